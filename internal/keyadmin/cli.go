package keyadmin

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/keystore"
)

const usage = `usage: pixashot keys <command>
  create <client>                 make a client's secret and print its first key
  rotate <client> [-grace 24h]    add a key (printed), disable keys older than the grace period
  revoke <client> [version]       disable one version, or every enabled one
  list                            clients, versions, states and ages (never keys)
  webhook <client>                add a webhook signing key (printed, whsec_…); the two newest sign
Needs AUTH_SECRET_PROJECT (and SECRET_MANAGER_ENDPOINT for a local stand-in).`

// Main runs the keys subcommand and returns the exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) int {
	project := getenv("AUTH_SECRET_PROJECT")
	if project == "" || len(args) == 0 {
		fmt.Fprintln(errOut, usage)
		return 2
	}
	client, err := keystore.NewClient(ctx, getenv("SECRET_MANAGER_ENDPOINT"))
	if err != nil {
		fmt.Fprintln(errOut, "pixashot keys:", err)
		return 1
	}
	defer client.Close()
	a := &Admin{Client: client, Project: project, Now: time.Now}
	if err := run(ctx, a, args, out); err != nil {
		fmt.Fprintln(errOut, "pixashot keys:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, a *Admin, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	grace := fs.Duration("grace", 24*time.Hour, "how long replaced keys stay valid")
	cmd := args[0]
	// Flags may come before or after the client id.
	var rest []string
	for left := args[1:]; ; {
		if err := fs.Parse(left); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		left = fs.Args()[1:]
	}
	need := func(n int) error {
		if len(rest) < n {
			return fmt.Errorf("%s needs a client id\n%s", cmd, usage)
		}
		return nil
	}
	switch cmd {
	case "create":
		if err := need(1); err != nil {
			return err
		}
		tok, err := a.Create(ctx, rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(out, tok)
	case "rotate":
		if err := need(1); err != nil {
			return err
		}
		tok, disabled, err := a.Rotate(ctx, a.SecretName(rest[0]), *grace)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, tok)
		for _, d := range disabled {
			fmt.Fprintln(out, "disabled", d)
		}
	case "revoke":
		if err := need(1); err != nil {
			return err
		}
		version := ""
		if len(rest) > 1 {
			version = rest[1]
		}
		done, err := a.Revoke(ctx, rest[0], version)
		if err != nil {
			return err
		}
		for _, d := range done {
			fmt.Fprintln(out, "disabled", d)
		}
	case "webhook":
		if err := need(1); err != nil {
			return err
		}
		secret, err := a.Webhook(ctx, rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(out, secret)
	case "list":
		rows, err := a.List(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%-24s %-8s %-10s %s\n", "CLIENT", "VERSION", "STATE", "AGE")
		for _, r := range rows {
			fmt.Fprintf(out, "%-24s %-8s %-10s %s\n", r.Client, r.Version, r.State, r.Age)
		}
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	return nil
}
