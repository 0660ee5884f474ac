package main

import (
	"sync"
	"syscall"

	"github.com/vrrpd/vrrpd/configs"
	"github.com/vrrpd/vrrpd/notify"
	"github.com/vrrpd/vrrpd/vrrp"
)

// hooks carries the driver's state changes to the notify runner: each instance's hooks, and its
// sync group's when the group as a whole changes state.
type hooks struct {
	runner *notify.Runner

	mu       sync.Mutex
	instance map[string]notify.Hooks
	groupOf  map[string]*group // instance name -> its sync group
}

// group is a sync group as its hooks see it: MASTER when every member is, FAULT when any member
// is, STOP when all have stopped, BACKUP otherwise.
type group struct {
	name    string
	hooks   notify.Hooks
	members map[string]vrrp.State
	state   string
}

// newHooks returns hooks with no configuration: apply gives them theirs, at start-up as on reload.
func newHooks(runner *notify.Runner) *hooks {
	return &hooks{runner: runner, instance: map[string]notify.Hooks{}, groupOf: map[string]*group{}}
}

// reconfigure takes the hooks of cfg. An instance that cfg no longer has keeps its hooks, so
// that its STOP hook runs when it is removed. Sync groups start from their members' states.
func (h *hooks) reconfigure(cfg *configs.Config) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cred := cfg.Global.ScriptCredential
	for _, in := range cfg.Instances {
		h.instance[in.Name] = hooksOf(in.Notify, cred)
	}
	old := h.groupOf
	h.groupOf = map[string]*group{}
	for _, sg := range cfg.SyncGroups {
		g := &group{name: sg.Name, hooks: hooksOf(sg.Notify, cred), members: map[string]vrrp.State{}}
		for _, name := range sg.Instances {
			g.members[name] = vrrp.Initialize
			if og := old[name]; og != nil {
				g.members[name] = og.members[name]
			}
			h.groupOf[name] = g
		}
		g.state = g.combined()
		if g.state == notify.StateStop {
			g.state = notify.StateInit
		}
	}
}

// hooksOf is a notify section as the runner takes it, run as script_user's credential (nil: the
// daemon's own user).
func hooksOf(n configs.Notify, cred *syscall.Credential) notify.Hooks {
	return notify.Hooks{Master: n.Master, Backup: n.Backup, Fault: n.Fault, Stop: n.Stop, Any: n.Any,
		Reassert: n.Reassert, Priority: n.Priority, Timeout: n.Timeout, Credential: cred}
}

// stateName is a state as hooks name it; an instance that returns to Initialize has stopped.
func stateName(s vrrp.State, target bool) string {
	switch {
	case s == vrrp.Initialize && target:
		return notify.StateStop
	case s == vrrp.Initialize:
		return notify.StateInit
	}
	return s.String()
}

// Notify implements vrrp.Notifier. It never blocks: the runner only queues.
func (h *hooks) Notify(ev vrrp.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	vips := make([]string, len(ev.VIPs))
	for i, p := range ev.VIPs {
		vips[i] = p.String()
	}
	ne := notify.Event{
		Instance: ev.Instance, Interface: ev.Interface, State: stateName(ev.To, true), Previous: stateName(ev.From, false),
		Reason: ev.Reason, VRID: int(ev.VRID), Priority: int(ev.Priority), VIPs: vips,
	}
	g := h.groupOf[ev.Instance]
	if g != nil {
		ne.Group = g.name
	}
	switch ev.Kind {
	case vrrp.Reasserted:
		ne.Hook = "reassert"
	case vrrp.PriorityChanged:
		ne.Hook = "priority"
	}
	h.runner.Notify(ev.Instance, h.instance[ev.Instance], ne)
	if g == nil || ev.Kind != vrrp.StateChanged {
		return
	}
	g.members[ev.Instance] = ev.To
	if s := g.combined(); s != g.state {
		ne.Previous, ne.State, g.state = g.state, s, s
		ne.Reason = ev.Instance + ": " + ev.Reason
		h.runner.NotifyGroup(g.hooks, ne)
	}
}

func (g *group) combined() string {
	all := func(s vrrp.State) bool {
		for _, m := range g.members {
			if m != s {
				return false
			}
		}
		return true
	}
	for _, m := range g.members {
		if m == vrrp.Fault {
			return notify.StateFault
		}
	}
	switch {
	case all(vrrp.Master):
		return notify.StateMaster
	case all(vrrp.Initialize):
		return notify.StateStop
	}
	return notify.StateBackup
}
