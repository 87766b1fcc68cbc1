// Command helm-sdk-separate installs or upgrades a chart through the helm 4 SDK with the post-render
// strategy the helm CLI does not offer: "separate" (helm-controller's), which runs the post-renderer
// twice, once on the hooks and once on the other manifests.
//
//	helm-sdk-separate install|upgrade|template RELEASE CHART [--namespace NS] [--timeout 4m]
//	    [--post-renderer NAME] [--post-renderer-arg ARG]... [--strategy separate|combined|nohooks]
//
// template renders without a cluster (client dry run). Every command prints what helm --dry-run
// prints: "HOOKS:", each hook's manifest, "MANIFEST:", the release's manifest. Plugins are found as
// the helm CLI finds them (HELM_DATA_HOME, HELM_PLUGINS); the cluster through KUBECONFIG.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/kube"
	"helm.sh/helm/v4/pkg/postrenderer"
	ri "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
)

type args []string

func (a *args) String() string     { return strings.Join(*a, " ") }
func (a *args) Set(v string) error { *a = append(*a, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "helm-sdk-separate: error:", err)
		os.Exit(1)
	}
}

func run(argv []string) error {
	if len(argv) < 3 {
		return errors.New("usage: helm-sdk-separate install|upgrade|template RELEASE CHART [flags]")
	}
	command, name, chartPath := argv[0], argv[1], argv[2]
	flags := flag.NewFlagSet(command, flag.ContinueOnError)
	namespace := flags.String("namespace", "default", "the release's namespace")
	timeout := flags.Duration("timeout", 4*time.Minute, "how long to wait for hooks")
	plugin := flags.String("post-renderer", "", "the post-renderer plugin's name")
	strategy := flags.String("strategy", string(action.PostRenderStrategySeparate), "the post-render strategy")
	var extra args
	flags.Var(&extra, "post-renderer-arg", "an argument to the post-renderer (repeatable)")
	if err := flags.Parse(argv[3:]); err != nil {
		return err
	}

	settings := cli.New()
	settings.SetNamespace(*namespace)
	cfg := new(action.Configuration)
	if err := cfg.Init(settings.RESTClientGetter(), *namespace, "secret"); err != nil {
		return err
	}
	chrt, err := loader.Load(chartPath)
	if err != nil {
		return err
	}
	var pr postrenderer.PostRenderer
	if *plugin != "" {
		if pr, err = postrenderer.NewPostRendererPlugin(settings, *plugin, extra...); err != nil {
			return err
		}
	}
	ctx := context.Background()
	var rel ri.Releaser
	switch command {
	case "install", "template":
		install := action.NewInstall(cfg)
		install.ReleaseName, install.Namespace, install.Timeout = name, *namespace, *timeout
		install.PostRenderer, install.PostRenderStrategy = pr, action.PostRenderStrategy(*strategy)
		install.WaitStrategy = kube.HookOnlyStrategy // the CLI's default: wait for hooks only
		if command == "template" {
			install.DryRunStrategy, install.Replace = action.DryRunClient, true
		}
		rel, err = install.RunWithContext(ctx, chrt, map[string]any{})
	case "upgrade":
		upgrade := action.NewUpgrade(cfg)
		upgrade.Namespace, upgrade.Timeout = *namespace, *timeout
		upgrade.PostRenderer, upgrade.PostRenderStrategy = pr, action.PostRenderStrategy(*strategy)
		upgrade.WaitStrategy = kube.HookOnlyStrategy
		rel, err = upgrade.RunWithContext(ctx, name, chrt, map[string]any{})
	default:
		return fmt.Errorf("unknown command %q", command)
	}
	if err != nil {
		return err
	}
	r, ok := rel.(*release.Release)
	if !ok {
		return fmt.Errorf("unexpected release type %T", rel)
	}
	fmt.Println("HOOKS:")
	for _, hook := range r.Hooks {
		fmt.Printf("---\n# Source: %s\n%s\n", hook.Path, hook.Manifest)
	}
	fmt.Printf("MANIFEST:\n%s", r.Manifest)
	return nil
}
