package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/vrrpd/vrrpd/configs"
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
	} {
		if g.old != g.new {
			d.log.Warn("reload: global."+g.key+" changes at the next restart", "running", g.old, "configured", g.new)
		}
	}
	next.Global.Socket, next.Global.SocketGroup = cur.Global.Socket, cur.Global.SocketGroup
	next.Global.Metrics, next.Global.LogFormat = cur.Global.Metrics, cur.Global.LogFormat
	d.level.Set(next.Global.LogLevel)

	sdNotify("RELOADING=1")
	if err := d.apply(ctx, cur, next); err != nil {
		d.log.Error("reload: could not apply every change", "err", err)
	}
	sdNotify("READY=1")
}

// apply moves the running daemon from configuration cur to next (from an empty one at start):
// removed instances stop as on SIGTERM, added ones start, changed ones are reconfigured in place
// where that needs no new election, and restarted otherwise.
func (d *daemon) apply(ctx context.Context, cur, next *configs.Config) error {
	var added, removed, restarted, inPlace []string
	for _, in := range cur.Instances {
		if findInstance(next, in.Name) == nil {
			removed = append(removed, in.Name)
		}
	}
	for _, in := range next.Instances {
		old := findInstance(cur, in.Name)
		if old == nil {
			added = append(added, in.Name)
			continue
		}
		changes, restart := instanceChanges(*old, in, groupOf(cur, in.Name), groupOf(next, in.Name))
		switch {
		case len(changes) == 0:
			continue
		case restart:
			restarted = append(restarted, in.Name)
		default:
			inPlace = append(inPlace, in.Name)
		}
		d.log.Info("reload: instance changed", "instance", in.Name, "changes", changes, "restart", restart)
	}
	d.hooks.reconfigure(next)
	err := d.track.reconfigure(ctx, next, trackerWait(next), func(initial func(string) (uint8, string)) error {
		var errs []error
		for _, name := range slices.Concat(removed, restarted) {
			errs = append(errs, d.driver.Remove(name))
		}
		for _, name := range inPlace {
			errs = append(errs, d.driver.Reconfigure(d.instanceConfig(next, name, initial)))
		}
		for _, name := range slices.Concat(restarted, added) {
			errs = append(errs, d.driver.Add(d.instanceConfig(next, name, initial)))
		}
		return errors.Join(errs...)
	})
	d.mu.Lock()
	d.cfg = next
	d.mu.Unlock()
	if len(cur.Instances) > 0 || err != nil {
		d.log.Info("configuration applied", "added", added, "removed", removed, "restarted", restarted, "changed_in_place", inPlace)
	}
	return err
}

// instanceConfig is what the driver runs for a configured instance, with its trackers' initial
// decision and its sync group.
func (d *daemon) instanceConfig(cfg *configs.Config, name string, initial func(string) (uint8, string)) vrrp.InstanceConfig {
	ic := instanceConfig(*findInstance(cfg, name))
	ic.InitialPriority, ic.InitialFault = initial(name)
	ic.Group = groupOf(cfg, name)
	return ic
}

// instanceChanges lists what differs between two versions of an instance, and whether any of
// it needs a restart: a new election on a new socket, because the RFC's identity of the virtual
// router (interface, VRID, version, interval, addresses, authentication) changed.
func instanceChanges(a, b configs.Instance, groupA, groupB string) (changes []string, restart bool) {
	diff := func(key string, x, y any, needsRestart bool) {
		if !reflect.DeepEqual(x, y) {
			changes = append(changes, fmt.Sprintf("%s: %v -> %v", key, x, y))
			restart = restart || needsRestart
		}
	}
	diff("interface", a.Interface, b.Interface, true)
	diff("vrid", a.VRID, b.VRID, true)
	diff("version", a.Version, b.Version, true)
	diff("advert_interval", a.AdvertInterval, b.AdvertInterval, true)
	diff("priority", a.Priority, b.Priority, a.Priority == 255 || b.Priority == 255)
	diff("preempt", a.Preempt, b.Preempt, false)
	diff("preempt_delay", a.PreemptDelay, b.PreemptDelay, false)
	diff("vips", a.VIPs, b.VIPs, a.IPv6() != b.IPv6())
	diff("unicast_src", a.UnicastSrc, b.UnicastSrc, true)
	diff("unicast_peers", a.UnicastPeers, b.UnicastPeers, true)
	diff("unicast_min_ttl", a.UnicastMinTTL, b.UnicastMinTTL, true)
	if a.AuthPass != b.AuthPass {
		changes, restart = append(changes, "auth_pass changed"), true // never log a password
	}
	diff("v3_checksum", a.V3Checksum, b.V3Checksum, true)
	diff("garp_delay", a.GARPDelay, b.GARPDelay, false)
	diff("garp_repeat", a.GARPRepeat, b.GARPRepeat, false)
	diff("garp_refresh", a.GARPRefresh, b.GARPRefresh, false)
	diff("track_interfaces", a.TrackInterfaces, b.TrackInterfaces, false)
	diff("track_checks", a.TrackChecks, b.TrackChecks, false)
	diff("notify", a.Notify, b.Notify, false)
	diff("sync_group", groupA, groupB, false)
	return changes, restart
}
