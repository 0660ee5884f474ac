package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
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
	"github.com/vrrpd/vrrpd/notify/child"
	"github.com/vrrpd/vrrpd/vip"
	"github.com/vrrpd/vrrpd/vrrp"
)

// cmdRun is `vrrpd run`: the daemon, in the foreground, logging to stderr. path is the
// configuration file; socket, unless "", overrides global.socket.
func cmdRun(path, socket string, stderr io.Writer) int {
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
	res, resErr := readHandover() // a restart in place: what the previous image handed over
	cfg, warnings, err := loadConfig(path)
	if err != nil {
		printProblems(stderr, path, err)
		if res != nil {
			fmt.Fprintln(stderr, "vrrpd: restarted in place with a configuration it rejects: going back to the previous binary")
			fmt.Fprintln(stderr, "vrrpd:", res.fallBack())
		}
		return 1
	}
	if socket != "" {
		cfg.Global.Socket = socket
	}
	level := new(slog.LevelVar)
	level.Set(cfg.Global.LogLevel)
	log := newLogger(cfg.Global.LogFormat, level, stderr)
	for _, w := range warnings {
		log.Warn(w)
	}
	if resErr != nil {
		log.Error("restarted in place, but the handover is unreadable: starting afresh", "err", resErr)
		res = nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sigs := signals{hup: make(chan os.Signal, 1), usr2: make(chan os.Signal, 1)}
	signal.Notify(sigs.hup, syscall.SIGHUP)
	signal.Notify(sigs.usr2, syscall.SIGUSR2)
	defer signal.Stop(sigs.hup)
	defer signal.Stop(sigs.usr2)
	d := &daemon{log: log, level: level, path: path, socketFlag: socket, cfg: cfg, resumed: res,
		refusedControl: newRefusals(log, "control"), refusedMetrics: newRefusals(log, "metrics")}
	if d.exe, err = startedAs(); err != nil {
		log.Warn("cannot tell which binary this is: SIGUSR2 will not restart in place", "err", err)
	}
	err = d.run(ctx, sigs)
	if errors.Is(err, errRestart) {
		err = d.execNew() // returns only if no image could be executed
	}
	if err != nil {
		log.Error("vrrpd stopped", "err", err)
		return 1
	}
	return 0
}

// signals are the signals the daemon acts on besides SIGTERM and SIGINT.
type signals struct {
	hup  chan os.Signal // reload
	usr2 chan os.Signal // restart in place
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

	refusedControl, refusedMetrics *refusals // what the doors refused

	reaper   *child.Reaper  // when the daemon is PID 1: reaps the orphans of hooks and checks
	exe      string         // the binary as started, which a restart in place executes
	resumed  *resumed       // what the previous image handed over, if it was restarted in place
	handover *vrrp.Handover // what this image hands over, once frozen for a restart

	mu  sync.Mutex
	cfg *configs.Config
}

func (d *daemon) config() *configs.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// run runs the configured instances until ctx is done, reloading on SIGHUP. On SIGUSR2 it
// freezes for a restart in place and returns errRestart.
func (d *daemon) run(ctx context.Context, sigs signals) error {
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

	// As PID 1 (a container without an init), the orphans of hooks and checks are ours to reap.
	if os.Getpid() == 1 {
		d.reaper = child.NewReaper()
		go d.reaper.Run(ctx)
	}
	runner := notify.NewRunner(log, notify.WithReaper(d.reaper))
	d.hooks = newHooks(runner)
	d.driver = vrrp.NewDriver(vrrp.Options{Log: log, Listen: vrrp.ListenIP, VIPs: vips, Notify: d.hooks, Probe: prober(vips, log)})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The VIP manager keeps the interfaces it has looked up for as long as it hears their changes.
	watched := make(chan struct{})
	go func() { defer close(watched); vips.Watch(runCtx, netns.None()) }()
	defer func() { cancel(); <-watched }()
	done := make(chan error, 1)
	go func() { done <- d.driver.Run(runCtx) }()
	defer func() { d.closeRunner(runner) }()
	abort := func(err error) error { // stop the driver (releasing what it took) and fail
		cancel()
		// A driver that could not start (ErrStopped) has the cause.
		return cmp.Or(<-done, err)
	}

	d.track = newTracking(d.driver, d.reaper, log)
	defer func() { cancel(); d.track.wait() }()
	if cfg.Global.Metrics != "" {
		if err := serveMetrics(runCtx, cfg.Global.Metrics,
			&metricsHandler{driver: d.driver, refused: []*refusals{d.refusedControl, d.refusedMetrics}}, d.refusedMetrics, log); err != nil {
			return abort(fmt.Errorf("metrics: %w", err))
		}
	}
	// A drain lasts across restarts: the instances start drained.
	if drained, err := loadDrained(cfg.Global.StateDir); err != nil {
		log.Error("cannot read the drained instances: none is drained", "err", err)
	} else if len(drained) > 0 {
		d.driver.Restore(drained)
		log.Info("instances drained by the operator stay drained", "instances", slices.Sorted(maps.Keys(drained)))
	}
	if r := d.resumed; r != nil {
		if err := d.driver.Resume(r.h, r.elapsed); err != nil {
			return abort(err)
		}
		d.track.resume(r.h)
		log.Info("restarted in place: resuming", "instances", len(r.h.Instances), "after", r.elapsed)
	} else if delay := cfg.Global.StartupDelay; delay > 0 {
		d.driver.Delay(d.started.Add(delay))
		log.Info("waiting for startup_delay before taking part", "startup_delay", delay)
	}
	// Instances start once every tracker has reported, with the priority and FAULT it implies.
	if err := d.apply(runCtx, &configs.Config{}, cfg); err != nil {
		return abort(err)
	}
	go vip.WatchAddrs(runCtx, netns.None(), log, vip.AddrEvents{
		Added: func(ifname string, p netip.Prefix) { d.driver.AddrsChanged(ifname, p) },
		Removed: func(ifname string, p netip.Prefix) {
			d.driver.VIPRemoved(ifname, p)
			d.driver.AddrsChanged(ifname, p)
		},
		Lost: func() { d.driver.Resync() },
	})
	go serveControl(runCtx, ln, d.refusedControl, d.handle)
	log.Info("vrrpd running", "version", version(), "router_id", cfg.Global.RouterID,
		"instances", len(cfg.Instances), "socket", cfg.Global.Socket)
	// Sockets are open and every instance has settled its VIPs (stale ones removed, or taken
	// as owner): systemd may start what depends on us.
	if err := sdNotify("READY=1"); err != nil {
		log.Warn("cannot notify systemd", "err", err)
	}

	var changed <-chan struct{} // watch_config
	if cfg.Global.WatchConfig {
		w, err := watchConfig(runCtx, d.path, log)
		if err != nil {
			log.Error("cannot watch the configuration file: reload it with SIGHUP", "err", err)
		} else {
			changed = w.changed
		}
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
		case <-sigs.hup:
			d.reload(runCtx)
		case <-changed:
			log.Info("the configuration file changed: reloading it", "path", d.path)
			d.reload(runCtx)
		case <-sigs.usr2:
			if d.exe == "" {
				log.Error("SIGUSR2: cannot restart in place: which binary this is is unknown")
				continue
			}
			if err := d.freeze(); err != nil {
				log.Error("SIGUSR2: "+err.Error(), "binary", d.exe)
				continue
			}
			return errRestart
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
		doc.Refused = refusedDoc{Control: d.refusedControl.counted(), Metrics: d.refusedMetrics.counted()}
		return response{Status: doc}
	case "drain", "undrain":
		return d.drain(req)
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
	if d.handover != nil {
		limit = restartHookWait - time.Second // a restart cannot wait for hooks
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
