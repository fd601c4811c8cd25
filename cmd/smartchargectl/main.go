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
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const defaultServer = "127.0.0.1:7443"

// globals are the flags every command takes.
type globals struct {
	output   string
	server   string
	token    string
	tls      bool
	caFile   string
	insecure bool
	timeout  time.Duration
	// timeoutSet says --timeout was given: live views (status, watch)
	// run unbounded otherwise.
	timeoutSet bool
}

// durationFlag is a duration flag that records whether it was given.
type durationFlag struct {
	d   *time.Duration
	set *bool
}

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration such as 30s or 2m")
	}
	*f.d, *f.set = d, true
	return nil
}

// register adds the global flags to fs, with the values already in g as
// defaults, so they may come before or after the command.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.output, "o", g.output, "output format: table, json or yaml")
	fs.StringVar(&g.output, "output", g.output, "output format: table, json or yaml")
	fs.StringVar(&g.server, "server", g.server, "API server address host:port (env SMARTCHARGE_SERVER)")
	fs.StringVar(&g.token, "token", g.token, "bearer token (env SMARTCHARGE_TOKEN)")
	fs.BoolVar(&g.tls, "tls", g.tls, "use TLS with the system's root certificates")
	fs.StringVar(&g.caFile, "ca-file", g.caFile, "use TLS, trusting the CA certificates in this PEM file")
	fs.BoolVar(&g.insecure, "insecure", g.insecure, "plaintext, no TLS (only for a trusted network)")
	fs.Var(durationFlag{&g.timeout, &g.timeoutSet}, "timeout", "time limit for the whole command (live status and watch: none unless given)")
}

func (g *globals) check() error {
	switch g.output {
	case "table", "json", "yaml":
	default:
		return usageErrorf("-o %q: want table, json or yaml", g.output)
	}
	if g.insecure && (g.tls || g.caFile != "") {
		return usageErrorf("--insecure contradicts --tls and --ca-file")
	}
	if g.server == "" {
		return usageErrorf("--server is empty")
	}
	if g.timeout <= 0 {
		return usageErrorf("--timeout must be positive")
	}
	return nil
}

// app is one invocation.
type app struct {
	g      globals
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
}

// command is one subcommand; run gets the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

func commands() []command {
	return []command{
		{"apply", "create or update a site from a site file", runApply},
		{"get", "list sites, circuits, chargers or grid limits", runGet},
		{"describe", "show a site, charger or circuit in detail", runDescribe},
		{"delete", "delete a site, circuit, charger or grid limit", runDelete},
		{"limit", "set a grid limit or show the limit in force", runLimit},
		{"status", "live view of a site's allocation (--once for one frame)", runStatus},
		{"watch", "print every allocation update of a site as a line", runWatch},
		{"needs", "set the charging needs of the car on an EVSE", runNeeds},
		{"priority", "set the priority of a charger or EVSE", runPriority},
		{"meter", "report a site or circuit meter reading (as an EMS)", runMeter},
		{"plan", "show a site's charging plan (--csv FILE writes it as CSV)", runPlan},
	}
}

// run is the whole program: it parses args, runs the command and returns
// the exit code. env reads environment variables.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) int {
	a := &app{stdin: os.Stdin, stdout: stdout, stderr: stderr, now: time.Now}
	a.g = globals{output: "table", server: defaultServer, token: env("SMARTCHARGE_TOKEN"), timeout: 30 * time.Second}
	if s := env("SMARTCHARGE_SERVER"); s != "" {
		a.g.server = s
	}

	fs := flag.NewFlagSet("smartchargectl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "smartchargectl: %v\n", err)
		a.usage(stderr)
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		a.usage(stderr)
		return exitUsage
	}
	if rest[0] == "help" {
		a.usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != rest[0] {
			continue
		}
		err := c.run(ctx, a, rest[1:])
		return a.report(err)
	}
	fmt.Fprintf(stderr, "smartchargectl: unknown command %q\n", rest[0])
	a.usage(stderr)
	return exitUsage
}

// report prints err and gives the exit code for it.
func (a *app) report(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "smartchargectl: %s\n", ue.msg)
		if ue.usage != "" {
			fmt.Fprintf(a.stderr, "usage: %s\n", ue.usage)
		}
		return exitUsage
	}
	printError(a.stderr, err)
	return exitError
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: smartchargectl [global flags] COMMAND [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "global flags (before or after the command):")
	fs := flag.NewFlagSet("smartchargectl", flag.ContinueOnError)
	g := a.g
	g.register(fs)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// usageError is bad usage: exit code 2.
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// flags is a subcommand's flag set with the global flags added.
type flags struct {
	*flag.FlagSet
	a     *app
	usage string
}

func (a *app) flags(name, usage string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.g.register(fs)
	return &flags{FlagSet: fs, a: a, usage: usage}
}

// parse parses args, allowing flags between positional arguments
// ("get site demo -o yaml"), and returns the positional ones. "-h" prints
// the command's usage.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	var tail []string
	for i, s := range args {
		if s == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.printUsage(f.a.stdout)
				return nil, err
			}
			return nil, &usageError{msg: f.Name() + ": " + err.Error(), usage: f.usage}
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	pos = append(pos, tail...)
	if err := f.a.g.check(); err != nil {
		err.(*usageError).usage = f.usage
		return nil, err
	}
	return pos, nil
}

func (f *flags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\nflags:\n", f.usage)
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
}

// fail returns a usage error for this command.
func (f *flags) fail(format string, args ...any) error {
	return &usageError{msg: f.Name() + ": " + fmt.Sprintf(format, args...), usage: f.usage}
}

// withTimeout bounds the command by --timeout.
func (a *app) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.g.timeout)
}

// siteID accepts "demo" or "sites/demo".
func siteID(s string) string { return strings.TrimPrefix(s, "sites/") }
