package main

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/vrrpd/vrrpd/configs"
	"github.com/vrrpd/vrrpd/vip"
	"github.com/vrrpd/vrrpd/vrrp"
)

// reload reads the configuration file again. An invalid file changes nothing: every problem is
// logged and the daemon keeps running on the old configuration. A valid one is applied without
// a flap: an unchanged instance keeps its state, timers and VIPs.
func (d *daemon) reload(ctx context.Context) {
	next, warnings, err := loadConfig(d.path)
	for _, w := range warnings {
		d.log.Warn("reload: " + w)
	}
	if err != nil {
		for _, p := range configs.Problems(err) {
			d.log.Error("reload: invalid configuration, still running the previous one", "path", d.path, "problem", p)
		}
		return
	}
	cur := d.config()
	if d.socketFlag != "" {
		next.Global.Socket = d.socketFlag
	}
	// These are set up once at start: a change needs a restart.
	for _, g := range []struct{ key, old, new string }{
		{"socket", cur.Global.Socket, next.Global.Socket},
		{"socket_group", cur.Global.SocketGroup, next.Global.SocketGroup},
		{"metrics", cur.Global.Metrics, next.Global.Metrics},
		{"log_format", cur.Global.LogFormat, next.Global.LogFormat},
		{"state_dir", cur.Global.StateDir, next.Global.StateDir},
		{"watch_config", fmt.Sprint(cur.Global.WatchConfig), fmt.Sprint(next.Global.WatchConfig)},
	} {
		if g.old != g.new {
			d.log.Warn("reload: global."+g.key+" changes at the next restart", "running", g.old, "configured", g.new)
		}
	}
	next.Global.Socket, next.Global.SocketGroup = cur.Global.Socket, cur.Global.SocketGroup
	next.Global.Metrics, next.Global.LogFormat = cur.Global.Metrics, cur.Global.LogFormat
	next.Global.StateDir, next.Global.WatchConfig = cur.Global.StateDir, cur.Global.WatchConfig
	d.level.Set(next.Global.LogLevel)

	sdNotify("RELOADING=1")
	if err := d.apply(ctx, cur, next); err != nil {
		d.log.Error("reload: could not apply every change", "err", err)
	}
	sdNotify("READY=1")
}

// apply moves the running daemon from configuration cur to next (from an empty one at start).
// The hooks change at once; the driver's instances change once every tracker next needs has
// reported (for at most trackerWait), as vrrp.Reload says: removed instances stop as on
// SIGTERM, added ones start, changed ones change in place where that needs no new election, and
// restart otherwise.
func (d *daemon) apply(ctx context.Context, cur, next *configs.Config) error {
	d.hooks.reconfigure(next)
	ready := d.track.reconfigure(ctx, next)
	wait := trackerWait(next)
	select {
	case <-ready:
	case <-ctx.Done():
	case <-time.After(wait):
		d.log.Warn("starting before every tracker reported", "waited", wait, "missing", d.track.missing(next))
	}
	plan, err := d.driver.Apply(instanceConfigs(next))
	for _, in := range next.Instances {
		changes := plan.Changes[in.Name]
		if old := findInstance(cur, in.Name); old != nil && !reflect.DeepEqual(old.Notify, in.Notify) {
			changes = append(changes, fmt.Sprintf("notify: %v -> %v", old.Notify, in.Notify)) // the hooks', not the driver's
		}
		if len(changes) > 0 {
			d.log.Info("reload: instance changed", "instance", in.Name, "changes", changes, "restart", slices.Contains(plan.Restarted, in.Name))
		}
	}
	d.mu.Lock()
	d.cfg = next
	d.mu.Unlock()
	if len(cur.Instances) > 0 || err != nil {
		d.log.Info("configuration applied", "added", plan.Added, "removed", plan.Removed, "restarted", plan.Restarted, "changed_in_place", plan.InPlace)
	}
	return err
}

// instanceConfigs turns the configured instances into what the driver runs.
func instanceConfigs(cfg *configs.Config) []vrrp.InstanceConfig {
	out := make([]vrrp.InstanceConfig, 0, len(cfg.Instances))
	for _, in := range cfg.Instances {
		c := vrrp.InstanceConfig{
			Name: in.Name, Interface: in.Interface, VRID: in.VRID,
			Machine: vrrp.Config{
				Version: vrrp.Version(in.Version), Priority: in.Priority, Interval: in.AdvertInterval,
				Preempt: in.Preempt, PreemptDelay: in.PreemptDelay,
				GARPDelay: in.GARPDelay, GARPRefresh: in.GARPRefresh,
			},
			VIPs: in.VIPs, Excluded: in.VIPsExcluded, Src: in.UnicastSrc, Peers: in.UnicastPeers, GARPRepeat: in.GARPRepeat,
			Group: groupOf(cfg, in.Name),
		}
		if len(in.UnicastPeers) > 0 {
			c.MinTTL = in.UnicastMinTTL
		}
		if in.AuthPass != "" {
			c.AuthType = vrrp.AuthSimple
			copy(c.AuthData[:], in.AuthPass)
		}
		if in.V3Checksum == "message" {
			c.Checksum = vrrp.ChecksumMessage
		}
		c.GARPInterval = in.GARPInterval
		if in.VMAC {
			c.Interface = in.VMACName
			c.VMAC = &vip.VMAC{Name: in.VMACName, Base: in.Interface, VRID: in.VRID, IPv6: in.IPv6()}
		}
		for a, o := range in.VIPOptions {
			if c.Placement == nil {
				c.Placement = map[netip.Addr]vrrp.Placement{}
			}
			c.Placement[a] = vrrp.Placement{Dev: o.Dev, Label: o.Label, Scope: o.Scope}
		}
		for _, r := range in.Routes {
			vr := vip.Route{To: r.To, Via: r.Via, Dev: r.Dev, Src: r.Src, Table: r.Table, Metric: r.Metric, Scope: r.Scope, Type: r.Type}
			if vr.Dev == "" && !vr.Via.IsValid() && (vr.Type == "" || vr.Type == "unicast") {
				vr.Dev = in.Interface // with a gateway, the kernel finds the interface, as keepalived lets it
			}
			c.Routes = append(c.Routes, vr)
		}
		for _, r := range in.Rules {
			c.Rules = append(c.Rules, vip.Rule{From: r.From, To: r.To, IIF: r.IIF, OIF: r.OIF, FWMark: r.FWMark, Table: r.Table, Priority: r.Priority})
		}
		for _, tr := range in.TrackInterfaces {
			c.Trackers = append(c.Trackers, vrrp.Tracker{TrackerKey: vrrp.TrackerKey{Kind: vrrp.TrackInterface, Name: tr.Name},
				Weight: tr.Weight, DownDelay: tr.DownDelay, UpDelay: tr.UpDelay})
		}
		for _, tc := range in.TrackChecks {
			tr := vrrp.Tracker{TrackerKey: vrrp.TrackerKey{Kind: vrrp.TrackCheck, Name: tc.Name}, Weight: tc.Weight}
			// A file check's number multiplies its weight (keepalived's track_file).
			if i := slices.IndexFunc(cfg.Checks, func(c configs.Check) bool { return c.Name == tc.Name }); i >= 0 && cfg.Checks[i].Kind == configs.CheckFile {
				tr.Scaled, tr.Reverse = true, cfg.Checks[i].Reverse
			}
			c.Trackers = append(c.Trackers, tr)
		}
		out = append(out, c)
	}
	return out
}
