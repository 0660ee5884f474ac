package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vrrpd/vrrpd/configs"
	"github.com/vrrpd/vrrpd/notify"
	"github.com/vrrpd/vrrpd/vip"
	"github.com/vrrpd/vrrpd/vrrp"
)

// cmdRun is `vrrpd run`: the daemon, in the foreground, logging to stderr.
func cmdRun(args []string, stderr io.Writer) int {
	// vrrpd's work is one small loop: with one processor, handing packets between its goroutines
	// stays on one thread instead of waking others. GOMAXPROCS in the environment still decides.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	// The live heap is small, but start-up (reading the configuration, hence first of all;
	// netlink dumps; every instance's first adverts and GARPs) churns through several times as
	// much, and Go's default GOGC of 100 would let the heap grow to match. GOGC in the
	// environment still decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", configs.DefaultPath, "configuration file")
	socket := fs.String("socket", "", "control socket (overrides global.socket)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, warnings, err := loadConfig(*path)
	if err != nil {
		printProblems(stderr, *path, err)
		return 1
	}
	if *socket != "" {
		cfg.Global.Socket = *socket
	}
	level := new(slog.LevelVar)
	level.Set(cfg.Global.LogLevel)
	log := newLogger(cfg.Global.LogFormat, level, stderr)
	for _, w := range warnings {
		log.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d := &daemon{log: log, level: level, path: *path, socketFlag: *socket, cfg: cfg}
	if err := d.run(ctx, hup); err != nil {
		log.Error("vrrpd stopped", "err", err)
		return 1
	}
	return 0
}

// loadConfig reads and validates the configuration as run, check and reload all do: the file,
// then what it needs of this host (hooks and checks that exist and are safe to run, a usable
// script_user). Warnings, such as a config file anyone may write, stop nothing.
func loadConfig(path string) (*configs.Config, []string, error) {
	warnings := configs.FileWarnings(path)
	cfg, err := configs.Load(path)
	if err == nil {
		err = configs.CheckHost(cfg)
	}
	if err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

// printProblems prints every problem of an invalid configuration, one per line.
func printProblems(w io.Writer, path string, err error) {
	if !errors.Is(err, configs.ErrInvalid) {
		fmt.Fprintf(w, "vrrpd: %v\n", err)
		return
	}
	problems := configs.Problems(err)
	fmt.Fprintf(w, "%s: %d problem(s):\n", path, len(problems))
	for _, p := range problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

func newLogger(format string, level slog.Leveler, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// daemon is a running vrrpd: the driver with its instances, tracking, hooks, the control socket
// and metrics. SIGHUP reloads its configuration.
type daemon struct {
	log        *slog.Logger
	level      *slog.LevelVar
	path       string // the configuration file, read again on SIGHUP
	socketFlag string // --socket, which overrides global.socket on reload too
	started    time.Time
	driver     *vrrp.Driver
	hooks      *hooks
	track      *tracking

	mu  sync.Mutex
	cfg *configs.Config
}

func (d *daemon) config() *configs.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// run runs the configured instances until ctx is done, reloading on hup.
func (d *daemon) run(ctx context.Context, hup <-chan os.Signal) error {
	d.started = time.Now()
	cfg, log := d.cfg, d.log
	nl, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	vips := vip.New(nl, log)
	defer vips.Close()

	// The control socket comes first: if another daemon answers on it, stop before touching
	// any address.
	ln, err := listenControl(cfg.Global.Socket, cfg.Global.SocketGroup)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.Global.Socket)

	runner := notify.NewRunner(log)
	d.hooks = newHooks(runner)
	d.driver = vrrp.NewDriver(vrrp.Options{Log: log, Listen: vrrp.ListenIP, VIPs: vipsAdapter{vips}, Notify: d.hooks, Probe: prober(vips, log)})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The VIP manager keeps the interfaces it has looked up for as long as it hears their changes.
	watched := make(chan struct{})
	go func() { defer close(watched); vips.Watch(runCtx, netns.None()) }()
	defer func() { cancel(); <-watched }()
	done := make(chan error, 1)
	go func() { done <- d.driver.Run(runCtx) }()
	defer d.closeRunner(runner)
	abort := func(err error) error { // stop the driver (releasing what it took) and fail
		cancel()
		// A driver that could not start (ErrStopped) has the cause.
		return cmp.Or(<-done, err)
	}

	d.track = newTracking(d.driver, log)
	defer func() { cancel(); d.track.wait() }()
	if cfg.Global.Metrics != "" {
		if err := serveMetrics(runCtx, cfg.Global.Metrics, metricsHandler{d.driver}, log); err != nil {
			return abort(fmt.Errorf("metrics: %w", err))
		}
	}
	// Instances start once every tracker has reported, with the priority and FAULT it implies.
	if err := d.apply(runCtx, &configs.Config{}, cfg); err != nil {
		return abort(err)
	}
	go vip.WatchAddrs(runCtx, netns.None(), log, vip.AddrEvents{Removed: func(ifname string, p netip.Prefix) { d.driver.VIPRemoved(ifname, p) }})
	go serveControl(runCtx, ln, log, d.handle)
	log.Info("vrrpd running", "version", version(), "router_id", cfg.Global.RouterID,
		"instances", len(cfg.Instances), "socket", cfg.Global.Socket)
	// Sockets are open and every instance has settled its VIPs (stale ones removed, or taken
	// as owner): systemd may start what depends on us.
	if err := sdNotify("READY=1"); err != nil {
		log.Warn("cannot notify systemd", "err", err)
	}

	stopping := ctx.Done()
	for {
		select {
		case err := <-done:
			log.Info("vrrpd stopped")
			return err
		case <-stopping:
			sdNotify("STOPPING=1")
			stopping = nil // the driver stops with ctx: wait for it
		case <-hup:
			d.reload(runCtx)
		}
	}
}

// handle answers a control socket request.
func (d *daemon) handle(req request) response {
	switch req.Command {
	case "status":
		doc, err := statusOf(d.driver, d.config(), d.started)
		if err != nil {
			return response{Error: err.Error()}
		}
		return response{Status: doc}
	}
	return response{Error: fmt.Sprintf("unknown command %q", req.Command)}
}

// closeRunner lets queued hooks, the STOP hooks among them, finish within their timeout.
func (d *daemon) closeRunner(r *notify.Runner) {
	cfg := d.config()
	limit := time.Duration(0)
	for _, in := range cfg.Instances {
		limit = max(limit, in.Notify.Timeout)
	}
	for _, g := range cfg.SyncGroups {
		limit = max(limit, g.Notify.Timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit+time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		d.log.Warn("hooks still running at exit were killed", "err", err)
	}
}

func statusOf(d *vrrp.Driver, cfg *configs.Config, started time.Time) (*statusDoc, error) {
	snap, err := d.Status()
	if err != nil {
		return nil, err
	}
	doc := &statusDoc{
		RouterID: cfg.Global.RouterID, Version: version(), PID: os.Getpid(),
		Started:   started.UTC().Format(time.RFC3339),
		Instances: make([]instanceDoc, 0, len(snap.Instances)), Sockets: make([]socketDoc, 0, len(snap.Sockets)),
	}
	for _, s := range snap.Instances {
		doc.Instances = append(doc.Instances, instanceDocOf(s))
	}
	for _, s := range snap.Sockets {
		doc.Sockets = append(doc.Sockets, socketDocOf(s))
	}
	return doc, nil
}

func findInstance(cfg *configs.Config, name string) *configs.Instance {
	for i := range cfg.Instances {
		if cfg.Instances[i].Name == name {
			return &cfg.Instances[i]
		}
	}
	return nil
}

// groupOf is the sync group an instance belongs to, or "".
func groupOf(cfg *configs.Config, name string) string {
	for _, g := range cfg.SyncGroups {
		if slices.Contains(g.Instances, name) {
			return g.Name
		}
	}
	return ""
}

// trackerWait bounds how long start-up waits for the checks' first results: the longest check
// timeout, and a second more.
func trackerWait(cfg *configs.Config) time.Duration {
	wait := time.Duration(0)
	for _, c := range cfg.Checks {
		wait = max(wait, c.Timeout)
	}
	return wait + time.Second
}

// cmdCheck is `vrrpd check`: validate like `run` does, print every problem, exit 1 if any.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", configs.DefaultPath, "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, warnings, err := loadConfig(*path)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err != nil {
		printProblems(stderr, *path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s is valid: %d instance(s), %d check(s), %d sync group(s)\n",
		*path, len(cfg.Instances), len(cfg.Checks), len(cfg.SyncGroups))
	return 0
}
