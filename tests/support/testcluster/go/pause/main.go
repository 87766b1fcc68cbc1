// Command pause is the test cluster's pod sandbox process: it holds the pod's namespaces open
// and does nothing else, so the cluster needs no registry for its sandbox image.
//
// Like the upstream pause container it exits cleanly on SIGINT or SIGTERM and, being PID 1 when
// a pod shares its process namespace, reaps any orphaned children so they do not stay zombies.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reapChildren()
	}
}

// reapChildren collects every exited child without blocking.
func reapChildren() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
