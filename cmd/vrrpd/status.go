package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vrrpd/vrrpd/notify/child"
	"github.com/vrrpd/vrrpd/vip"
	"github.com/vrrpd/vrrpd/vrrp"
)

// statusDoc is `vrrpd status --json`: SPEC.md's stable contract, plus added fields.
type statusDoc struct {
	RouterID  string        `json:"router_id"`
	Version   string        `json:"version"`
	PID       int           `json:"pid"`
	Started   string        `json:"started"`
	Instances []instanceDoc `json:"instances"`
	Sockets   []socketDoc   `json:"sockets"`
	Refused   refusedDoc    `json:"refused"`
}

// refusedDoc counts what the daemon's doors refused, by reason: requests too large, too many
// connections at once, malformed, too slow.
type refusedDoc struct {
	Control map[string]uint64 `json:"control"`
	Metrics map[string]uint64 `json:"metrics"`
}

type instanceDoc struct {
	Name                 string            `json:"name"`
	Interface            string            `json:"interface"`
	VRID                 int               `json:"vrid"`
	Version              int               `json:"version"`
	State                string            `json:"state"`
	Priority             int               `json:"priority"`
	EffectivePriority    int               `json:"effective_priority"`
	PriorityReason       string            `json:"priority_reason"` // what trackers do to the priority; "" if nothing
	Master               string            `json:"master"`
	MasterPriority       int               `json:"master_priority"`
	VIPs                 []string          `json:"vips"`
	Since                string            `json:"since"`
	Reason               string            `json:"reason"`
	AdvertInterval       string            `json:"advert_interval"`
	MasterAdvertInterval string            `json:"master_advert_interval"`
	Source               string            `json:"source"`
	UnicastPeers         []string          `json:"unicast_peers"`
	AdvertsSent          uint64            `json:"adverts_sent"`
	AdvertsReceived      uint64            `json:"adverts_received"`
	SendErrors           uint64            `json:"send_errors"`
	GARPBursts           uint64            `json:"garp_bursts"`
	Transitions          map[string]uint64 `json:"transitions"`
	Drops                map[string]uint64 `json:"drops"`
	Trackers             []trackerDoc      `json:"trackers"`
	Duplicates           []duplicateDoc    `json:"duplicates"` // other hosts answering for the VIPs
	AddressMismatches    uint64            `json:"address_mismatches"`
	LastMismatch         *mismatchDoc      `json:"last_mismatch,omitempty"`
	Drained              bool              `json:"drained"`
	DrainedSince         string            `json:"drained_since,omitempty"`
	VIPsExcluded         []string          `json:"vips_excluded"`
}

// mismatchDoc is the latest advert whose addresses differ from ours: a misconfigured peer, or
// another virtual router on the same VRID.
type mismatchDoc struct {
	From string   `json:"from"`
	VIPs []string `json:"vips"`
	At   string   `json:"at"`
}

// duplicateDoc is a VIP of a master that other hosts answer for: at most vip.MaxDuplicateMACs of
// them listed, the first also as mac, and how many answered.
type duplicateDoc struct {
	VIP      string   `json:"vip"`
	MAC      string   `json:"mac"`
	MACs     []string `json:"macs"`
	Answered int      `json:"answered"`
}

type trackerDoc struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Up     bool   `json:"up"`
	Weight int    `json:"weight"`
}

// socketDoc counts what a socket dropped before it could tell which instance a packet was for.
type socketDoc struct {
	Interface string            `json:"interface"`
	Family    string            `json:"family"`
	Drops     map[string]uint64 `json:"drops"`
}

func instanceDocOf(s vrrp.InstanceStatus) instanceDoc {
	c := s.Config
	d := instanceDoc{
		Name: c.Name, Interface: c.Interface, VRID: int(c.VRID), Version: int(c.Machine.Version),
		State: s.State.String(), Priority: int(c.Machine.Priority), EffectivePriority: int(s.Priority),
		MasterPriority: int(s.MasterPriority), Since: s.Since.UTC().Format(time.RFC3339), Reason: s.Reason,
		AdvertInterval: c.Machine.Interval.String(), MasterAdvertInterval: s.MasterInterval.String(),
		Source: c.Src.String(), VIPs: []string{}, UnicastPeers: []string{},
		AdvertsSent: s.AdvertsSent, AdvertsReceived: s.AdvertsReceived, SendErrors: s.SendErrors,
		GARPBursts: s.Announces, Transitions: map[string]uint64{}, Drops: map[string]uint64{},
		Trackers: []trackerDoc{}, Duplicates: []duplicateDoc{}, PriorityReason: s.PriorityWhy,
	}
	for _, tr := range s.Trackers {
		d.Trackers = append(d.Trackers, trackerDoc{Kind: tr.Kind.String(), Name: tr.Name, Up: tr.Up, Weight: tr.Weight})
	}
	for _, dup := range s.Duplicates {
		doc := duplicateDoc{VIP: dup.VIP.String(), MACs: []string{}, Answered: dup.Seen}
		for _, m := range dup.MACs {
			doc.MACs = append(doc.MACs, m.String())
		}
		if len(doc.MACs) > 0 {
			doc.MAC = doc.MACs[0]
		}
		d.Duplicates = append(d.Duplicates, doc)
	}
	d.AddressMismatches = s.Mismatches
	if m := s.LastMismatch; m.From.IsValid() {
		d.LastMismatch = &mismatchDoc{From: m.From.String(), At: m.At.UTC().Format(time.RFC3339)}
		for _, a := range m.Addresses {
			d.LastMismatch.VIPs = append(d.LastMismatch.VIPs, a.String())
		}
	}
	if s.Master.IsValid() {
		d.Master = s.Master.String()
	}
	if s.Since.IsZero() {
		d.Since = ""
	}
	for _, p := range c.VIPs {
		d.VIPs = append(d.VIPs, p.String())
	}
	for _, p := range c.Peers {
		d.UnicastPeers = append(d.UnicastPeers, p.String())
	}
	d.VIPsExcluded = []string{}
	for _, p := range c.Excluded {
		d.VIPsExcluded = append(d.VIPsExcluded, p.String())
	}
	if !s.Drained.IsZero() {
		d.Drained, d.DrainedSince = true, s.Drained.UTC().Format(time.RFC3339)
	}
	for _, st := range []vrrp.State{vrrp.Backup, vrrp.Master, vrrp.Fault, vrrp.Initialize} {
		d.Transitions[stateName(st, true)] = s.Transitions[st]
	}
	for r := vrrp.DropNone + 1; r < vrrp.NumDrops; r++ {
		if r != vrrp.DropVRID { // an instance never sees a foreign VRID: the socket counts those
			d.Drops[r.String()] = s.Drops[r]
		}
	}
	return d
}

// family names a socket's address family in status and metrics.
func family(ipv6 bool) string {
	if ipv6 {
		return "ipv6"
	}
	return "ipv4"
}

func socketDocOf(s vrrp.SocketStatus) socketDoc {
	d := socketDoc{Interface: s.Interface, Family: family(s.IPv6), Drops: map[string]uint64{}}
	for r := vrrp.DropNone + 1; r < vrrp.NumDrops; r++ {
		d.Drops[r.String()] = s.Drops[r]
	}
	return d
}

// cmdStatus is `vrrpd status`: the daemon's instances, or only those named, as a table or a JSON
// document. A name the daemon has no instance of is an error, and then nothing is printed, so a
// script never reads a partial answer.
func cmdStatus(socket string, asJSON bool, names []string, stdout, stderr io.Writer) int {
	resp, err := askDaemon(socket, request{Command: "status"})
	if err != nil {
		fmt.Fprintln(stderr, "vrrpd status:", err)
		return 1
	}
	doc := resp.Status
	if len(names) > 0 {
		if doc, err = onlyInstances(doc, names); err != nil {
			fmt.Fprintln(stderr, "vrrpd status:", err)
			return 1
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(doc)
		return 0
	}
	writeTable(stdout, doc, time.Now())
	return 0
}

// onlyInstances is the status document limited to the named instances, in the daemon's order,
// or an error naming those it does not have.
func onlyInstances(doc *statusDoc, names []string) (*statusDoc, error) {
	limited := *doc
	limited.Instances = nil
	have := make([]string, 0, len(doc.Instances))
	for _, in := range doc.Instances {
		have = append(have, in.Name)
		if slices.Contains(names, in.Name) {
			limited.Instances = append(limited.Instances, in)
		}
	}
	var missing []string
	for _, n := range names {
		if q := strconv.Quote(n); !slices.Contains(have, n) && !slices.Contains(missing, q) {
			missing = append(missing, q)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the daemon has no instance %s (it has %s)", strings.Join(missing, ", "), orNone(have))
	}
	return &limited, nil
}

// orNone lists names, or says there are none.
func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// writeTable prints the status for a person: who is master, and why.
func writeTable(w io.Writer, doc *statusDoc, now time.Time) {
	fmt.Fprintf(w, "router %s, vrrpd %s, pid %d\n", doc.RouterID, doc.Version, doc.PID)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tINTERFACE\tVRID\tSTATE\tPRIORITY\tMASTER\tVIPS\tFOR\tREASON")
	for _, in := range doc.Instances {
		prio := fmt.Sprint(in.Priority)
		if in.EffectivePriority != in.Priority {
			prio = fmt.Sprintf("%d→%d", in.Priority, in.EffectivePriority)
		}
		master := in.Master
		if master == "" {
			master = "-"
		}
		reason := in.Reason
		if in.PriorityReason != "" && in.EffectivePriority != in.Priority && in.State != "FAULT" {
			reason += " (" + in.PriorityReason + ")"
		}
		for _, dup := range in.Duplicates {
			reason += fmt.Sprintf("; duplicate VIP %s answered by %s", dup.VIP, vip.AnsweredBy(dup.MACs, dup.Answered))
		}
		state := in.State
		if in.Drained {
			state += " drained"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.Interface, in.VRID, state, prio,
			master, strings.Join(in.VIPs, ","), sinceString(in.Since, now), child.Printable(reason))
	}
	tw.Flush()
}

// sinceString says how long ago an RFC 3339 time was, to the second.
func sinceString(since string, now time.Time) string {
	t, err := time.Parse(time.RFC3339, since)
	if err != nil {
		return "-"
	}
	return now.Sub(t).Truncate(time.Second).String()
}
