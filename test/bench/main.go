// Command bench measures vrrpd beside keepalived on a throwaway namespace LAN and prints one
// table: how close each daemon's failover comes to the RFC's timers, how long a client loses the
// VIP, what each costs in CPU and memory at steady state (issue 7), how each behaves at the
// protocol's edges and at scale (issue 15), and what routine operations cost a client (issue 16).
//
// Run it as root from the repository:
//
//	go run ./test/bench                  # everything: about 12 minutes on 2 cores
//	go run ./test/bench -quick           # 2 trials of each kind, 5s cost windows: about 7 minutes
//	go run ./test/bench -scenarios failover -intervals 100ms,10ms -trials 10
//	go run ./test/bench -quick -scenarios three,vips
//	go run ./test/bench -out bench.md    # also write the table as markdown
//
// Each measurement runs on a fresh LAN from test/lab: a switch, lb1 (10.0.4.20, priority 110),
// lb2 (10.0.4.21, priority 100) and a client (10.0.4.10) that pings the VIP 10.0.4.99 every 2ms
// and captures its wire with kernel timestamps. keepalived and vrrpd go through the same
// scenarios, one after the other, never at the same time. The scenarios (-scenarios):
//
//   - failover: host loss, lb1's switch port down: the delay runs from lb1's last advert on the
//     wire to lb2's first gratuitous ARP; the ideal is lb2's Master_Down_Interval. Graceful, lb1
//     gets SIGTERM: from its priority-0 advert to lb2's first gratuitous ARP; the ideal is lb2's
//     Skew_Time. At each of -intervals, -trials times.
//   - cost: 1 instance at 1s (VRRPv2) and 200 instances at 100ms (VRRPv3) on one interface: CPU
//     seconds per second over a window after settling, and peak RSS (VmHWM) of master and backup,
//     a keepalived process tree summed; every instance must end in the right state.
//   - three: three routers at 100, 90 and 80, at 1s, 100ms and 10ms; lb1 loses its port: how many
//     routers became master (one, the 90, is clean), and the 90's delay over its ideal.
//   - vips: one instance with 1000 VIPs at 1s and 100ms; lb1 loses its port: the first and the
//     last VIP lb2 announces, over the ideal.
//   - instances: 255 instances on each of 4 LANs (1020) at 1s: time to settle, CPU and RSS.
//   - reload: the same 1020 instances, SIGHUP to lb1 with one priority changed: the largest
//     lateness of lb1's adverts, beside steady state (with instances, both use one LAN).
//   - day2: a pair at 1s: drain, undrain and restart lb1 (vrrpd drain, undrain and SIGUSR2;
//     keepalived's track_file and a restart): the client's longest silence and lb2's transitions.
//   - codec: `go test -bench . -benchmem ./vrrp`, for allocations per operation.
//
// three, vips and day2 run -edge-trials times per daemon and interval.
//
// The harness builds vrrpd itself unless -vrrpd names a binary. It removes its namespaces and
// stops the daemons it started, by pid, when it ends or is interrupted (a second Ctrl-C kills it
// at once and may leave both behind).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"golang.org/x/sys/unix"
)

// allScenarios are the scenarios, in the order "all" runs them.
var allScenarios = []string{"failover", "cost", "three", "vips", "instances", "reload", "day2", "codec"}

// options are the command line's settings.
type options struct {
	scenarios  []string        // of allScenarios
	trials     int             // failover trials per scenario, daemon and interval
	edgeTrials int             // trials of the three, vips and day2 scenarios, per daemon and interval
	intervals  []time.Duration // advert intervals for the failover scenarios
	vrrpd      string          // a vrrpd binary; empty: build one
	keepalived string          // keepalived's path; empty: look it up; "none": vrrpd only
	out        string          // also write the table as markdown here
	window     time.Duration   // the cost scenario's measuring window
	settle     time.Duration   // wait this long at steady state before measuring cost
	keep       bool            // keep configurations and logs
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	opt, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "bench: needs root: it creates network namespaces and runs VRRP daemons in them")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()

	b := &bench{opt: opt, log: stderr, procs: map[*proc]bool{}, labs: map[*lab.Lab]bool{}}
	code := b.main(ctx, stdout)
	if err := b.cleanup(); err != nil {
		fmt.Fprintln(stderr, "bench: cleanup:", err)
		code = max(code, 1)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "bench: interrupted")
		return 130
	}
	return code
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenarios := fs.String("scenarios", "all", "what to run: "+strings.Join(allScenarios, ", ")+", or all (comma-separated)")
	trials := fs.Int("trials", 5, "failover trials per scenario, daemon and interval")
	edgeTrials := fs.Int("edge-trials", 3, "trials per daemon and interval of the three, vips and day2 scenarios")
	intervals := fs.String("intervals", "1s,100ms,30ms,10ms", "advert intervals for the failover scenarios; whole seconds run VRRPv2, the rest VRRPv3")
	vrrpdBin := fs.String("vrrpd", "", "vrrpd binary to measure (default: build ./cmd/vrrpd)")
	kaBin := fs.String("keepalived", "", `keepalived binary (default: from PATH or /usr/sbin/keepalived; "none": vrrpd only)`)
	out := fs.String("out", "", "also write the table, with its notes, as markdown to this file")
	window := fs.Duration("window", 20*time.Second, "cost: the measuring window")
	settle := fs.Duration("settle", 6*time.Second, "cost: time at steady state before the window (covers the second GARP burst, 5s after becoming master)")
	quick := fs.Bool("quick", false, "a quick run: 2 trials of each kind and a 5s cost window, unless -trials, -edge-trials or -window say otherwise")
	keep := fs.Bool("keep", false, "keep the daemons' configurations and logs, and print where")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./test/bench [flags]   (as root, from the repository)\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	opt := options{trials: *trials, edgeTrials: *edgeTrials, vrrpd: *vrrpdBin, keepalived: *kaBin, out: *out, window: *window, settle: *settle, keep: *keep}
	if *quick {
		if !set["trials"] {
			opt.trials = 2
		}
		if !set["edge-trials"] {
			opt.edgeTrials = 2
		}
		if !set["window"] {
			opt.window = 5 * time.Second
		}
	}
	for s := range strings.SplitSeq(*scenarios, ",") {
		switch s = strings.TrimSpace(s); s {
		case "all":
			opt.scenarios = append(opt.scenarios, allScenarios...)
		default:
			if !slices.Contains(allScenarios, s) {
				return options{}, fmt.Errorf("-scenarios: unknown scenario %q (want %s or all)", s, strings.Join(allScenarios, ", "))
			}
			opt.scenarios = append(opt.scenarios, s)
		}
	}
	for s := range strings.SplitSeq(*intervals, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return options{}, fmt.Errorf("-intervals: %w", err)
		}
		if d < 10*time.Millisecond || d%(10*time.Millisecond) != 0 || d > 40950*time.Millisecond {
			return options{}, fmt.Errorf("-intervals: %s: want a multiple of 10ms from 10ms to 40.95s", d)
		}
		opt.intervals = append(opt.intervals, d)
	}
	if opt.trials < 1 || opt.edgeTrials < 1 || opt.window < time.Second || opt.settle < 0 {
		return options{}, errors.New("-trials and -edge-trials must be at least 1, -window at least 1s and -settle not negative")
	}
	return opt, nil
}

// bench is one run of the harness: what it measured and what it must clean up.
type bench struct {
	opt  options
	log  io.Writer // progress, one line per step
	dir  string    // configurations, logs and the vrrpd binary
	root string    // the repository, for building and for the codec benchmarks
	imps []*impl   // keepalived (when installed), then vrrpd

	mu    sync.Mutex
	procs map[*proc]bool    // started and not yet seen to exit
	labs  map[*lab.Lab]bool // created and not yet closed
}

func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(b.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// main runs the scenarios and prints the table; it returns the exit code.
func (b *bench) main(ctx context.Context, stdout io.Writer) int {
	start := time.Now()
	var err error
	if b.dir, err = os.MkdirTemp("", "vrrpd-bench-"); err != nil {
		fmt.Fprintln(b.log, "bench:", err)
		return 1
	}
	if b.root, err = moduleRoot(); err != nil {
		fmt.Fprintln(b.log, "bench:", err)
		return 1
	}
	if err := b.findDaemons(ctx); err != nil {
		fmt.Fprintln(b.log, "bench:", err)
		return 1
	}
	res := newResults()
	res.started, res.trials, res.edgeTrials, res.intervals, res.window = start, b.opt.trials, b.opt.edgeTrials, b.opt.intervals, b.opt.window
	res.machine, res.loadStart, res.keepalived = machine(), loadavg(), b.imps[0].name == "keepalived"
	b.say("machine: %s; load average %s", res.machine, res.loadStart)
	for _, s := range b.opt.scenarios {
		if ctx.Err() != nil {
			break
		}
		switch s {
		case "failover":
			b.failover(ctx, res)
		case "cost":
			b.costs(ctx, res, smallCosts())
		case "three":
			b.threeRouters(ctx, res)
		case "vips":
			b.manyVIPs(ctx, res)
		case "instances", "reload":
			// One LAN of 1020 instances serves both, when both are asked for.
			if !res.scaled {
				b.scale(ctx, res, slices.Contains(b.opt.scenarios, "instances"), slices.Contains(b.opt.scenarios, "reload"))
			}
		case "day2":
			b.day2(ctx, res)
		case "codec":
			res.codec, res.codecErr = b.codec(ctx)
		}
	}
	if ctx.Err() != nil {
		return 130
	}
	res.took, res.loadEnd = time.Since(start), loadavg()
	text := res.render()
	fmt.Fprint(stdout, text)
	if b.opt.out != "" {
		if err := os.WriteFile(b.opt.out, []byte(text), 0o644); err != nil {
			fmt.Fprintln(b.log, "bench:", err)
			return 1
		}
		b.say("wrote %s", b.opt.out)
	}
	return 0
}

// findDaemons builds or finds vrrpd, and finds keepalived unless told not to.
func (b *bench) findDaemons(ctx context.Context) error {
	if b.opt.keepalived != "none" {
		path := b.opt.keepalived
		if path == "" {
			var err error
			if path, err = exec.LookPath("keepalived"); err != nil {
				path = "/usr/sbin/keepalived"
			}
		}
		if _, err := os.Stat(path); err == nil {
			b.imps = append(b.imps, keepalivedImpl(path))
		} else if b.opt.keepalived != "" {
			return fmt.Errorf("-keepalived: %w", err)
		} else {
			b.say("keepalived is not installed: measuring vrrpd alone")
		}
	}
	bin := b.opt.vrrpd
	if bin == "" {
		bin = filepath.Join(b.dir, "vrrpd")
		b.say("building vrrpd into %s", bin)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/vrrpd")
		cmd.Dir, cmd.Env = b.root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building vrrpd: %w\n%s", err, out)
		}
	} else if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("-vrrpd: %w", err)
	} else if bin, err = filepath.Abs(bin); err != nil {
		return fmt.Errorf("-vrrpd: %w", err)
	}
	b.imps = append(b.imps, vrrpdImpl(bin))
	return nil
}

// moduleRoot is the directory of the go.mod governing the working directory.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run the harness from the vrrpd repository (go env GOMOD: %q, %v)", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

// track and untrack keep the set of processes and labs to clean up.
func (b *bench) track(p *proc) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.procs[p] = true
}

func (b *bench) untrack(p *proc) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.procs, p)
}

func (b *bench) newLab() (*lab.Lab, error) {
	l, err := lab.New(lab.NewPrefix())
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.labs[l] = true
	return l, nil
}

func (b *bench) closeLab(l *lab.Lab) error {
	b.mu.Lock()
	delete(b.labs, l)
	b.mu.Unlock()
	return l.Close()
}

// cleanup stops every daemon still running, by pid, removes every namespace, and removes the
// working directory unless -keep.
func (b *bench) cleanup() error {
	b.mu.Lock()
	procs := make([]*proc, 0, len(b.procs))
	for p := range b.procs {
		procs = append(procs, p)
	}
	labs := make([]*lab.Lab, 0, len(b.labs))
	for l := range b.labs {
		labs = append(labs, l)
	}
	b.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { _ = p.stop(5 * time.Second) })
	}
	wg.Wait()
	for _, l := range labs {
		errs = append(errs, b.closeLab(l))
	}
	if b.dir != "" {
		if b.opt.keep {
			fmt.Fprintf(b.log, "bench: configurations and logs kept in %s\n", b.dir)
		} else {
			errs = append(errs, os.RemoveAll(b.dir))
		}
	}
	return errors.Join(errs...)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// machine describes the host: CPU model, cores, kernel.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	kernel := "?"
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	cores, _ := exec.Command("nproc").Output()
	return fmt.Sprintf("%s, %s cores, Linux %s", model, strings.TrimSpace(string(cores)), kernel)
}

// loadavg is /proc/loadavg's 1, 5 and 15 minute averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
