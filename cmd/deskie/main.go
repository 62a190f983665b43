// Command deskie is a command-line tool for Deskie (and Omnidesk) custom channels:
// a standalone fake Deskie for trials and for tests in any language, and a few
// commands that call a real (or fake) account through the deskie SDK.
//
//	deskie fake     [--addr 127.0.0.1:8025] [--channel sync|async] [--webhook URL] [--rate N]
//	deskie channels [--json]
//	deskie send     --channel cch1 --user ID [--json] TEXT
//	deskie cases    [--channel cch1] [--user ID] [--json]
//	deskie listen   --channel cch1 --forward URL [--poll 30s] [--lookback 1h] [--json]
//
// Install it with
//
//	go install github.com/deskie-go/deskie/cmd/deskie@latest
//
// The commands that call an account take their credentials from flags or the
// environment: --subdomain or DESKIE_SUBDOMAIN (https://{subdomain}.deskie.io), or
// --base-url or DESKIE_BASE_URL (any origin: Omnidesk, a fake); --email or
// DESKIE_EMAIL; --api-key or DESKIE_API_KEY (prefer the variable: a flag shows in
// the process list). Errors are one line on stderr; the exit status is 0 on
// success, 1 when the command failed and 2 for a usage error. The API key never
// appears in any output. See docs/cli.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

func commands() []command {
	return []command{
		{"fake", "run a fake Deskie (deskietest) with an agent console and a control API", runFake},
		{"channels", "list the account's custom channels", runChannels},
		{"send", "send one customer message through Chats.Send (the last-chat rule)", runSend},
		{"cases", "list recent cases", runCases},
		{"listen", "forward agent replies to a local webhook, polling with Replies.Watch", runListen},
		{"version", "print the SDK version", runVersion},
	}
}

// env is what a command gets from the process: its output streams and environment.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// secrets are removed from every error printed (the API key).
	secrets []string
}

// run runs the command line args (without the program name) and returns the exit
// status. It writes only to stdout and stderr and reads the environment through
// getenv, so tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		_, _ = fmt.Fprint(stderr, usage())
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(rest) > 0 {
			// "deskie help send" is "deskie send --help".
			return run(ctx, []string{rest[0], "--help"}, stdout, stderr, getenv)
		}
		_, _ = fmt.Fprint(stdout, usage())
		return exitOK
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, rest)
		return e.report(c.name, err)
	}
	e.errorf("unknown command %q (run 'deskie --help' for the list)", name)
	return exitUsage
}

func usage() string {
	var b strings.Builder
	b.WriteString(`deskie: a command-line tool for Deskie custom channels.

Usage:
  deskie <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Credentials (channels, send, cases, listen), from flags or the environment:
  --subdomain  DESKIE_SUBDOMAIN   the account at https://{subdomain}.deskie.io, or
  --base-url   DESKIE_BASE_URL    any origin (Omnidesk, or the URL 'deskie fake' prints)
  --email      DESKIE_EMAIL       the staff e-mail the API key belongs to
  --api-key    DESKIE_API_KEY     the API key (prefer the variable)

Run 'deskie <command> --help' for a command's flags. Exit status: 0 success,
1 failure, 2 usage error.
`)
	return b.String()
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp means --help was asked and answered: exit status 0.
var errHelp = errors.New("help shown")

// report prints err as one line on stderr and returns the exit status.
func (e *env) report(cmd string, err error) int {
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		e.errorf("%s: %s (run 'deskie %s --help')", cmd, ue.msg, cmd)
		return exitUsage
	}
	e.errorf("%s: %s", cmd, strings.TrimPrefix(err.Error(), "deskie: "))
	return exitFailure
}

// errorf prints one line "deskie: …" on stderr, with secrets removed and the text
// folded onto one line.
func (e *env) errorf(format string, args ...any) {
	_, _ = fmt.Fprintln(e.stderr, "deskie: "+e.clean(fmt.Sprintf(format, args...)))
}

// clean folds s onto one line and removes the secrets from it.
func (e *env) clean(s string) string {
	for _, sec := range e.secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	return strings.TrimPrefix(s, "deskie: ")
}

// newFlags returns a flag set for a command. Parse errors and --help are reported
// by [env.parse], not by the flag package.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("deskie "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args with fs, accepting flags before and after the positional
// arguments (deskie send "hi" --channel cch1), and returns the positional ones.
// --help prints the command's help on stdout and returns errHelp.
func (e *env) parse(fs *flag.FlagSet, help string, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				e.printHelp(fs, help)
				return nil, errHelp
			}
			return nil, usagef("%s", strings.TrimPrefix(err.Error(), "deskie: "))
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func (e *env) printHelp(fs *flag.FlagSet, help string) {
	_, _ = fmt.Fprint(e.stdout, strings.TrimLeft(help, "\n"))
	_, _ = fmt.Fprintln(e.stdout, "\nFlags:")
	fs.SetOutput(e.stdout)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlags("version")
	if _, err := e.parse(fs, "Usage: deskie version\n\nPrints the version of the deskie SDK the command was built with.\n", args); err != nil {
		return err
	}
	_, err := fmt.Fprintln(e.stdout, "deskie "+sdkVersion())
	return err
}
