// Command kube is the test cluster's Kubernetes: kube-apiserver, kube-controller-manager,
// kube-scheduler, kubelet and kubectl of one release in a single binary.
//
// One binary instead of five because the five share most of their packages: Go compiles and
// links them once, which roughly halves a cold build on a two-core machine, and kubectl is
// guaranteed to be the same version as the server it talks to.
//
// It dispatches on the name it was called by (a symlink named kubectl, kubelet, ...) or, when
// called as kube, on its first argument: `kube kubelet --config ...`.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	_ "time/tzdata" // CronJob time zones, as upstream's apiserver and controller-manager embed.

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json, as upstream registers it.
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream registers them.
	_ "k8s.io/component-base/metrics/prometheus/version"  // the build-info metric.

	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// servers maps each server's command name to its cobra command; each runs until stopped.
var servers = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
}

func main() {
	name := filepath.Base(os.Args[0])
	if _, known := servers[name]; !known && name != "kubectl" {
		if len(os.Args) < 2 {
			usage()
		}
		// Drop our own name so that cobra sees the chosen command's arguments as os.Args[1:].
		os.Args = os.Args[1:]
		name = os.Args[0]
	}
	if name == "kubectl" {
		command := kubectlcmd.NewDefaultKubectlCommand()
		if err := cli.RunNoErrOutput(command); err != nil {
			kubectlutil.CheckErr(err)
		}
		return
	}
	newCommand, known := servers[name]
	if !known {
		usage()
	}
	os.Exit(cli.Run(newCommand()))
}

func usage() {
	names := []string{"kubectl"}
	for name := range servers {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: kube COMMAND [ARGS...], or call it through a symlink named COMMAND\ncommands: %v\n", names)
	os.Exit(2)
}
