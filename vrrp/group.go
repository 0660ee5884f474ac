package vrrp

import "fmt"

// settle applies in's sync group after one of its members changed (keepalived's
// vrrp_sync_group; not part of the RFCs), so that the group stays with one host:
//   - while a member is in FAULT, the others are in FAULT too;
//   - while a member yields to a better master, the others are held back from being master.
//
// It converges: neither a group fault nor a hold can make a member faulted or yielding.
func (d *Driver) settle(in *instance) {
	g := in.cfg.Group
	if g == "" {
		return
	}
	var members []*instance
	for _, o := range d.order {
		if o.cfg.Group == g {
			members = append(members, o)
		}
	}
	for range members {
		changed := false
		for _, x := range members {
			fault, held := "", ""
			for _, y := range members {
				switch {
				case y == x:
				case y.fault != "" && fault == "":
					fault = fmt.Sprintf("sync group %s: %s is in FAULT (%s)", g, y.cfg.Name, y.fault)
				case y.m.Yielding() && held == "":
					held = fmt.Sprintf("sync group %s: %s follows master %s", g, y.cfg.Name, y.m.master)
				}
			}
			if fault != x.groupFault {
				x.groupFault, changed = fault, true
				d.apply(x, fmt.Sprintf("sync group %s has no member in FAULT", g))
			}
			if held != x.m.held {
				changed = true
				d.act(x, x.m.Hold(d.opt.Now(), held))
			}
		}
		if !changed {
			return
		}
	}
}
