"""Build the r2k8s KRM function as an OCI image, reproducibly and without a container engine.

``image/build`` is the command; the modules each do one job:

* :mod:`.project`: what is built: r2k8s's files, its version (the tags) and its commit (the time);
* :mod:`.debian`: the Debian Python runtime from ``image/debian.lock`` (mmdebstrap), trimmed to
  what ``python3`` needs to run;
* :mod:`.wheels`: the function's Python dependencies from ``image/requirements.lock``;
* :mod:`.compile`: bytecode compiled by the image's own Python, so start-up never writes;
* :mod:`.layers`: deterministic layer tars;
* :mod:`.oci`: the OCI image layout archive;
* :mod:`.runtime`: loading the archive into podman;
* :mod:`.cli`: the command line and the cache of the slow parts.
"""
