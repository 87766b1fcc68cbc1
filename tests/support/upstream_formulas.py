"""Upstream formula files as test data: byte-for-byte copies, shared by the formula ID, parse and schema tests.

Copied into the tests (not read from ``../shared``) so the tests that use
them run on a fresh clone too.
"""

from __future__ import annotations

__all__ = ["BASE", "BUSYBASH", "DOCS_EXAMPLE1", "LEGACY_HASH", "RELEASE_V014", "UPSTREAM"]

BUSYBASH = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"

# Byte-for-byte copies of the upstream files (tabs, trailing commas and all).
UPSTREAM = {
    "example_01_hello.formula": (
        '{\n\t"formula": {\n\t\t"inputs": {\n\t\t\t"/": "' + BUSYBASH + '"\n\t\t},\n'
        '\t\t"action": {\n\t\t\t"exec": ["/bin/echo", "hello world!"]\n\t\t}\n\t},\n'
        '\t"context": {\n\t\t"fetchUrls": {\n\t\t\t"/": [\n\t\t\t\t"file://./fixtures/busybash.tgz"\n'
        "\t\t\t]\n\t\t}\n\t}\n}\n"
    ),
    "example_02_script.formula": (
        '{\n\t"formula": {\n\t\t"inputs": {\n\t\t\t"/": "' + BUSYBASH + '"\n\t\t},\n'
        '\t\t"action": {\n\t\t\t"exec": ["/bin/bash", "-c", "echo bash scripting inlines"],\n\t\t}\n\t},\n'
        '\t"context": {\n\t\t"fetchUrls": {\n\t\t\t"/": [\n\t\t\t\t"file://./fixtures/busybash.tgz"\n'
        "\t\t\t],\n\t\t}\n\t}\n}\n"
    ),
    "example_03_output.formula": (
        '{\n\t"formula": {\n\t\t"inputs": {\n\t\t\t"/": "' + BUSYBASH + '"\n\t\t},\n'
        '\t\t"action": {\n\t\t\t"exec": ["/bin/mkdir", "-p", "/task/out/beep"]\n\t\t},\n'
        '\t\t"outputs": {\n\t\t\t"/task/out": {"packtype": "tar"}\n\t\t}\n\t},\n'
        '\t"context": {\n\t\t"fetchUrls": {\n\t\t\t"/": [\n\t\t\t\t"file://./fixtures/busybash.tgz"\n'
        '\t\t\t],\n\t\t},\n\t\t"saveUrls": {\n\t\t\t"/task/out": "ca+file://./wares/"\n\t\t}\n\t}\n}\n'
    ),
    "example_04_mounts.formula": (
        '{\n\t"formula": {\n\t\t"inputs": {\n\t\t\t"/": "' + BUSYBASH + '",\n\t\t\t"/wow": "mount:ro:/tmp"\n'
        '\t\t},\n\t\t"action": {\n\t\t\t"exec": ["/bin/ls", "-la", "/wow"]\n\t\t},\n\t},\n'
        '\t"context": {\n\t\t"fetchUrls": {\n\t\t\t"/": [\n\t\t\t\t"file://./fixtures/busybash.tgz"\n'
        "\t\t\t],\n\t\t},\n\t}\n}\n"
    ),
    "example_05_userinfo.formula": (
        '{\n\t"formula": {\n\t\t"inputs": {\n\t\t\t"/": "' + BUSYBASH + '"\n\t\t},\n'
        '\t\t"action": {\n\t\t\t"exec": ["/bin/bash", "-c", "pwd ; ls -la ; mkdir out ; '
        'echo $USER is the best ever | tee out/info.txt"],\n\t\t\t"userinfo": {\n\t\t\t\t"uid": 2000,\n'
        '\t\t\t\t"gid": 2000,\n\t\t\t\t"username": "crashoverride"\n\t\t\t}\n\t\t},\n'
        '\t\t"outputs": {\n\t\t\t"/task/out": {"packtype": "tar", "filters": {}}\n\t\t}\n\t},\n'
        '\t"context": {\n\t\t"fetchUrls": {\n\t\t\t"/": [\n\t\t\t\t"file://./fixtures/busybash.tgz"\n'
        '\t\t\t],\n\t\t},\n\t\t"saveUrls": {\n\t\t\t"/task/out": "ca+file://./wares/"\n\t\t}\n\t}\n}\n'
    ),
    "example_06_roundtripRootfs.formula": (
        '{\n\t"formula": {\n\t\t"inputs": {\n\t\t\t"/": "' + BUSYBASH + '"\n\t\t},\n'
        '\t\t"action": {\n\t\t\t"exec": ["/bin/echo", "hello world!"],\n\t\t\t"cradle": "disable"\n\t\t},\n'
        '\t\t"outputs": {\n\t\t\t"/": {\n\t\t\t\t"packtype": "tar",\n'
        '\t\t\t\t"filters": {"uid":"keep", "gid":"keep", "mtime":"keep", "sticky":"keep"}}\n\t\t}\n\t},\n'
        '\t"context": {\n\t\t"fetchUrls": {\n\t\t\t"/": [\n\t\t\t\t"file://./fixtures/busybash.tgz"\n'
        '\t\t\t],\n\t\t},\n\t\t"saveUrls": {\n\t\t\t"/": "ca+file://./wares/"\n\t\t}\n\t}\n}\n'
    ),
    "examples/hello.formula": (
        '{\n\t"formula": {\n\t\t"inputs": {\n\t\t\t"/": "' + BUSYBASH + '"\n\t\t},\n'
        '\t\t"action": {\n\t\t\t"exec": ["/bin/echo", "hello world!"]\n\t\t}\n\t},\n'
        '\t"context": {\n\t\t"fetchUrls": {\n\t\t\t"/": [\n\t\t\t\t"file://../fixtures/busybash.tgz"\n'
        "\t\t\t]\n\t\t}\n\t}\n}\n"
    ),
}

# timeless-docs content/schema/layer-1/example1.formula (not in ../shared).
DOCS_EXAMPLE1 = (
    '{\n  "formula": {\n    "inputs": {\n      "/": "' + BUSYBASH + '"\n    },\n'
    '    "action": {\n      "exec": ["/bin/mkdir", "-p", "/task/out/beep"]\n    },\n'
    '    "outputs": {\n      "/task/out": {"packtype": "tar"}\n    }\n  },\n'
    '  "context": {\n    "fetchUrls": {\n      "/": [\n'
    '        "ca+https://repeatr.s3.amazonaws.com/warehouse/"\n      ]\n    }\n  }\n}\n'
)

LEGACY_HASH = "aLMH4qK1EdlPDavdhErOs0BPxqO0i6lUaeRE4DuUmnNMxhHtF56gkoeSulvwWNqT"

#: release/v0.15:meta/releases/repeatr-release-v0.14.frm, tabs and all.
RELEASE_V014 = (
    "inputs:\n"
    '\t"/":\n\t\ttype: "tar"\n\t\thash: "' + LEGACY_HASH + '"\n'
    '\t\tsilo: "http+ca://repeatr.s3.amazonaws.com/assets/"\n'
    '\t"/app/go/":\n\t\ttype: "tar"\n\t\thash: "UZlcQvHU5Qg5gXquDW2QTc-v6l-LzR1-8SRmJ2aWQjiqFcPggIETikoEta_DJZQc"\n'
    '\t\tsilo: "https://storage.googleapis.com/golang/go1.7.4.linux-amd64.tar.gz"\n'
    '\t"/task/repeatr/":\n\t\ttype: "git"\n\t\thash: "72b19be26bbac56c9d1dc418a01bfe0b09a9363c"\n'
    '\t\tsilo:\n\t\t\t- "./../.."\n\t\t\t- "https://github.com/polydawn/repeatr.git"\n'
    "action:\n"
    '\tcwd: "/task/repeatr/"\n'
    "\tenv:\n"
    '\t\t"PATH": "/bin/:/usr/bin/:/app/go/go/bin/"\n'
    '\t\t"GOROOT": "/app/go/go"\n'
    '\t\t"GITCOMMIT": "72b19be26bbac56c9d1dc418a01bfe0b09a9363c"\n'
    '\t\t"BUILDDATE": "2017-01-17 11:23:48-06:00"\n'
    '\t\t"GOOS": "linux"\n'
    '\t\t"GOARCH": "amd64"\n'
    '\tcommand: [ "./goad", "install" ]\n'
    "outputs:\n"
    '\t"repeatr-linux-amd64-v0.14":\n'
    '\t\tmount: "/task/repeatr/.gopath/bin/"\n'
    '\t\ttype: "tar"\n'
    '\t\tsilo: "file+ca://./wares/"\n'
)

BASE = 'inputs:\n  "/":\n    type: tar\n    hash: "abc"\naction:\n  command: ["echo"]\n'
