package main

// The table's rows and notes for issue 15's and 16's scenarios: three routers, 1000 VIPs, the
// 1020-instance reload, and day-2 operations (the 1020-instance cost shares the cost rows).

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

func (r *results) threeRows() []row {
	var rows []row
	for _, d := range threeIntervals {
		ka, ours := r.three[threeKey{"keepalived", d}], r.three[threeKey{"vrrpd", d}]
		if ours == nil {
			continue
		}
		what := fmt.Sprintf("three routers (%d, %d, %d), host loss, %s (VRRPv%d)", threePrios[0], threePrios[1], threePrios[2], d, versionFor(d))
		num, den := cleanTarget(d)
		rw := row{measure: what + ": clean takeovers (the 90 alone)", ka: cleanCell(ka), ours: cleanCell(ours), target: "all", met: "—"}
		if num != den {
			rw.target = fmt.Sprintf("≥ %d in %d", num, den)
		}
		if n := len(ours.trials) + len(ours.errs); n > 0 {
			rw.met = yesNo(ours.clean()*den >= num*n)
		}
		rows = append(rows, rw)
		rows = append(rows, row{measure: what + ": the 90's delay/ideal", ka: threeDelayCell(ka), ours: threeDelayCell(ours), target: "—", met: "—"})
	}
	return rows
}

// clean counts the clean takeovers.
func (t *threeResult) clean() int {
	n := 0
	for _, tr := range t.trials {
		if tr.clean() {
			n++
		}
	}
	return n
}

// cleanCell is "5 of 5", with the other outcomes named: "3 of 5; lb2+lb3 in 2".
func cleanCell(t *threeResult) string {
	if t == nil {
		return "—"
	}
	n := len(t.trials) + len(t.errs)
	if n == 0 {
		return "failed: " + oneLine(errOr(t.errs, t.stopped))
	}
	cell := fmt.Sprintf("%d of %d", t.clean(), n)
	others := map[string]int{}
	for _, tr := range t.trials {
		if !tr.clean() {
			others[strings.Join(tr.masters, "+")]++
		}
	}
	for _, m := range slices.Sorted(maps.Keys(others)) {
		cell += fmt.Sprintf("; %s in %d", m, others[m])
	}
	if len(t.errs) > 0 {
		cell += fmt.Sprintf("; %d failed: %s", len(t.errs), oneLine(t.errs[0]))
	}
	return cell + stoppedText(t.stopped)
}

// stoppedText says why trials stopped early, if they did.
func stoppedText(err error) string {
	if err == nil {
		return ""
	}
	return "; then stopped: " + oneLine(err)
}

func threeDelayCell(t *threeResult) string {
	if t == nil {
		return "—"
	}
	var ds []time.Duration
	for _, tr := range t.trials {
		if tr.delay > 0 {
			ds = append(ds, tr.delay)
		}
	}
	return ratiosCell(ds, t.ideal)
}

// ratiosCell is "median (worst)" of each duration ÷ ideal.
func ratiosCell(ds []time.Duration, ideal time.Duration) string {
	if len(ds) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.4f (%.4f)", ratio(median(ds), ideal), ratio(slices.Max(ds), ideal))
}

func (r *results) vipsRows() []row {
	var rows []row
	for _, d := range vipsIntervals {
		ka, ours := r.vips[vipsKey{"keepalived", d}], r.vips[vipsKey{"vrrpd", d}]
		if ours == nil {
			continue
		}
		what := fmt.Sprintf("%d VIPs on one instance, host loss, %s (VRRPv%d)", manyVIPsCount, d, versionFor(d))
		rows = append(rows, row{measure: what + ": first VIP announced ÷ ideal",
			ka: vipsCell(ka, firstVIP), ours: vipsCell(ours, firstVIP), target: "—", met: "—"})
		limit := lastVIPLimit(d)
		rw := row{measure: what + ": last VIP announced ÷ ideal", ka: vipsCell(ka, lastVIP), ours: vipsCell(ours, lastVIP),
			target: fmt.Sprintf("≤ %g, and below keepalived's", limit), met: "—"}
		if len(ours.trials) > 0 {
			med := ratio(median(ours.pick(lastVIP)), ours.ideal)
			measured := ka != nil && len(ka.trials) > 0
			ahead := !measured || med < ratio(median(ka.pick(lastVIP)), ka.ideal)
			rw.met = yesNo(med <= limit && ahead)
			if !measured {
				rw.met += " (keepalived not measured)"
			}
		}
		rows = append(rows, rw)
	}
	return rows
}

func firstVIP(t vipsTrial) time.Duration { return t.first }
func lastVIP(t vipsTrial) time.Duration  { return t.last }

func (v *vipsResult) pick(get func(vipsTrial) time.Duration) []time.Duration {
	out := make([]time.Duration, len(v.trials))
	for i, t := range v.trials {
		out[i] = get(t)
	}
	return out
}

func vipsCell(v *vipsResult, get func(vipsTrial) time.Duration) string {
	if v == nil {
		return "—"
	}
	if len(v.trials) == 0 {
		return "failed: " + oneLine(errOr(v.errs, v.stopped))
	}
	cell := ratiosCell(v.pick(get), v.ideal)
	if len(v.errs) > 0 {
		cell += fmt.Sprintf("; %d of %d failed: %s", len(v.errs), len(v.errs)+len(v.trials), oneLine(v.errs[0]))
	}
	return cell + stoppedText(v.stopped)
}

func settleCell(c *costResult, i int) string {
	if c == nil {
		return "—"
	}
	if c.err != nil {
		return "failed"
	}
	return c.settled[i].String()
}

func (r *results) reloadRows() []row {
	ka, ours := r.reload["keepalived"], r.reload["vrrpd"]
	if ours == nil {
		return nil
	}
	what := "reload (SIGHUP) of " + scaleCost().String() + ", one priority changed"
	rw := row{measure: what + ": largest advert lateness (steady state)", ka: reloadCell(ka, latenessText), ours: reloadCell(ours, latenessText),
		target: "≤ " + reloadLateness.String(), met: "—"}
	if ours.err == nil {
		rw.met = yesNo(ours.busy <= reloadLateness)
	}
	rows := []row{rw}
	rows = append(rows, row{measure: what + ": the change on the wire after", ka: reloadCell(ka, appliedText), ours: reloadCell(ours, appliedText), target: "—", met: "—"})
	rw = row{measure: what + ": transitions; instances in the wrong state after", ka: reloadCell(ka, flapsText), ours: reloadCell(ours, flapsText), target: "0; 0", met: "—"}
	if ours.err == nil {
		rw.met = yesNo(ours.flaps == 0 && ours.wrong == 0)
	}
	return append(rows, rw)
}

func latenessText(r *reloadResult) string {
	return fmt.Sprintf("%s (%s)", fmtDur(r.busy), fmtDur(r.steady))
}
func appliedText(r *reloadResult) string { return fmtDur(r.applied) }
func flapsText(r *reloadResult) string   { return fmt.Sprintf("%d; %d", r.flaps, r.wrong) }

func reloadCell(r *reloadResult, text func(*reloadResult) string) string {
	switch {
	case r == nil:
		return "—"
	case r.err != nil:
		return "failed: " + oneLine(r.err)
	}
	return text(r)
}

func (r *results) day2Rows() []row {
	var rows []row
	ka := func(op day2Op) *day2Result { return r.day2[day2Key{"keepalived", op}] }
	ours := func(op day2Op) *day2Result { return r.day2[day2Key{"vrrpd", op}] }
	if ours(opDrain) == nil {
		return nil
	}
	for _, op := range day2Ops {
		rw := row{measure: fmt.Sprintf("client's longest silence, %s (keepalived: %s), 1s", op.what(vrrpdImpl("")), op.what(keepalivedImpl(""))),
			ka: silenceCell(ka(op)), ours: silenceCell(ours(op)), target: "≤ " + day2Silence.String(), met: "—"}
		if o := ours(op); len(o.silences) > 0 {
			switch {
			case median(o.silences) > day2Silence:
				rw.met = "NO"
			case slices.Max(o.silences) > day2Silence:
				rw.met = "yes; worst misses"
			default:
				rw.met = "yes"
			}
		}
		rows = append(rows, rw)
	}
	rw := row{measure: "peer's transitions, SIGUSR2 (keepalived: restart), 1s", ka: peerCell(ka(opRestart)), ours: peerCell(ours(opRestart)), target: "0", met: "—"}
	if o := ours(opRestart); len(o.peer) > 0 {
		rw.met = yesNo(slices.Max(o.peer) == 0)
	}
	return append(rows, rw)
}

func silenceCell(d *day2Result) string {
	if d == nil {
		return "—"
	}
	if len(d.silences) == 0 {
		return "failed: " + oneLine(errOr(d.errs, nil))
	}
	cell := fmt.Sprintf("%s (%s)", fmtDur(median(d.silences)), fmtDur(slices.Max(d.silences)))
	if len(d.errs) > 0 {
		cell += fmt.Sprintf("; %d failed: %s", len(d.errs), oneLine(d.errs[0]))
	}
	return cell
}

// peerCell is the transitions of every trial: "0, 0, 0".
func peerCell(d *day2Result) string {
	if d == nil {
		return "—"
	}
	if len(d.peer) == 0 {
		return "failed"
	}
	s := make([]string, len(d.peer))
	for i, n := range d.peer {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// scenarioNotes are the notes of the scenarios that ran.
func (r *results) scenarioNotes() []string {
	var n []string
	if len(r.three) > 0 {
		var ideals []string
		for _, d := range threeIntervals {
			ideals = append(ideals, idealsText(d, uint8(threePrios[1])))
		}
		n = append(n, fmt.Sprintf("Three routers: lb1, lb2 and lb3 at priorities %d, %d and %d, one VIP, no second GARP burst; lb1's "+
			"switch port goes down. The client's wire is watched until lb3's own Master_Down_Interval after lb1's last advert, "+
			"and one interval and 200ms more; a router that sent an advert or a GARP for the VIP in that time became master. "+
			"A takeover is clean when lb2, the 90, alone did. The delay runs from lb1's last advert to lb2's first GARP, over "+
			"lb2's Master_Down_Interval / Skew_Time: %s; lb3 (80) waits %s / %s / %s more. %d trials; the delay "+
			"cell is median (worst).",
			threePrios[0], threePrios[1], threePrios[2], strings.Join(ideals, "; "),
			threeGap(time.Second), threeGap(100*time.Millisecond), threeGap(10*time.Millisecond), r.edgeTrials))
	}
	if len(r.vips) > 0 {
		n = append(n, fmt.Sprintf("%d VIPs: one instance (lb1 %d, lb2 %d) with %d /32 VIPs, 10.0.64.1 to 10.0.67.250, no second "+
			"GARP burst, each daemon's default of 5 GARPs per VIP; lb1's switch port goes down. On the client's wire (kernel "+
			"timestamps, a 64 MiB capture buffer; a trial whose capture dropped a frame fails): from lb1's last advert to lb2's "+
			"first gratuitous ARP (first VIP), and to the first GARP that names the last VIP not yet announced in this takeover "+
			"(last VIP), over lb2's Master_Down_Interval. An advert holds at most 255 addresses: both daemons add and announce "+
			"every VIP and list the first 255 (lb2's first advert listed %s). Each cell: median (worst) of %d trials.",
			manyVIPsCount, prioMaster, prioBackup, manyVIPsCount, r.advertisedText(), r.edgeTrials))
	}
	if r.scaled {
		cc := scaleCost()
		n = append(n, fmt.Sprintf("%s: 255 instances on each of 4 LANs (eth0 to eth3 of every node, each LAN on a switch of its "+
			"own, since VRIDs are unique per LAN), VRIDs 1-255 on each, one /32 IPv4 VIP each. Four interfaces rather than IPv4 "+
			"and IPv6 beside each other, because keepalived runs exactly this configuration too (its VRIDs are also 1-255 per "+
			"interface and family). Time to settle: from starting lb1 alone to every instance MASTER with its VIP there (at "+
			"least lb1's Master_Down_Interval, 3.57s, as both daemons start as backup), and from starting lb2 to "+
			"every instance BACKUP there, states as in the wrong-state check; the node is looked at every 5ms, and the "+
			"cell is the span it settled in: after the last look that found it unsettled began, before the first that "+
			"found it settled ended (a look is one `vrrpd status --json`, or a read of keepalived's log). CPU and RSS as for the "+
			"other cost rows.", cc))
	}
	if len(r.reload) > 0 {
		n = append(n, fmt.Sprintf("Reload: the %s pair, steady, gets lb1's configuration rewritten with VI_1's priority one "+
			"higher and SIGHUP (keepalived's parent reloads its VRRP child). lb2 captures every LAN (kernel timestamps) for "+
			"%s before the SIGHUP and until %s after lb1's first advert at the new priority. Lateness is a gap between two "+
			"consecutive adverts of one instance beyond the interval; the cell is the largest from the SIGHUP on, and in "+
			"brackets the largest before it. Transitions are those both nodes logged from the SIGHUP on.",
			scaleCost(), reloadWindow, reloadWindow))
	}
	if len(r.day2) > 0 {
		n = append(n, fmt.Sprintf("Day-2: a pair at 1s (VRRPv2, lb1 %d, lb2 %d, one VIP), the client pinging the VIP every 2ms; "+
			"each trial drains lb1, undrains it, and restarts it, and each operation waits until the pair is steady again "+
			"(lb2 master after the drain, lb1 after the others) and 500ms more. vrrpd: `vrrpd drain VI_1` (it returns once "+
			"lb2 has taken over), `vrrpd undrain VI_1`, and SIGUSR2 after installing the binary again at the path lb1 runs "+
			"from (a copy of its own), then lb2's Master_Down_Interval and 500ms more. keepalived: a track_file with weight "+
			"-%d on the instance, written with 1 (110 becomes 90) and then removed, and a restart, SIGTERM and a start, "+
			"for the upgrade. The silence is the longest gap between two replies; each cell median (worst) of %d trials. "+
			"The peer's transitions are those lb2 logged during the operation (or, if it logged none, the instances whose "+
			"`vrrpd status --json` state or `since` changed), per trial.", prioMaster, prioBackup, drainWeight, r.edgeTrials))
	}
	return n
}

// threeGap is how much longer lb3 waits than lb2 at interval d.
func threeGap(d time.Duration) time.Duration {
	v, im := versionFor(d), vrrpdImpl("")
	return im.skew(v, uint8(threePrios[2]), d) - im.skew(v, uint8(threePrios[1]), d)
}

// advertisedText says how many addresses each daemon's new master listed in its first advert.
func (r *results) advertisedText() string {
	var parts []string
	for _, name := range []string{"keepalived", "vrrpd"} {
		counts := map[int]bool{}
		for _, d := range vipsIntervals {
			if v := r.vips[vipsKey{name, d}]; v != nil {
				for _, t := range v.trials {
					counts[t.advertised] = true
				}
			}
		}
		if len(counts) > 0 {
			var cs []string
			for _, c := range slices.Sorted(maps.Keys(counts)) {
				cs = append(cs, fmt.Sprint(c))
			}
			parts = append(parts, name+" "+strings.Join(cs, " or "))
		}
	}
	if len(parts) == 0 {
		return "nothing measured"
	}
	return strings.Join(parts, ", ")
}
