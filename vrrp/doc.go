// Package vrrp is the protocol: the packet codec, the RFC 5798 state machine, the policy that
// decides what each machine is told, and the driver that runs them on raw sockets.
//
// The parts, and what each may touch:
//
//   - packet.go, checksum.go: Advertisement, the message of RFC 3768 §5 and RFC 5798 §5, as a
//     typed value, with its byte layout.
//   - validate.go: Rules.Check, RFC 5798 §7.1's receive checks, a pure function that names the
//     rule a packet breaks.
//   - machine.go: Machine, one virtual router's RFC 5798 §6 state machine. Events go in with the
//     time; actions and the next deadline come out. No goroutines, sockets or clock.
//   - policy.go: Policy, everything that is not the RFC: trackers and their weights, FAULT and
//     its causes, sync groups, and what a reload changes in place. Pure, like the Machine.
//   - driver.go (the loop and its commands), instances.go, receive.go, send.go, status.go,
//     probe.go: the Driver, which owns the goroutines, the sockets and the clock, and carries out
//     what the Machine and the Policy decide. timers.go holds its one timer; socket.go the raw
//     sockets.
//
// # One advert, from the socket to an action
//
// A master on the LAN sends an ADVERTISEMENT. The kernel queues it on the raw socket of protocol
// 112 that this interface and family share (ListenIP; one per interface and family, whatever the
// number of instances). That socket's watcher goroutine (Driver.watch) is parked in the runtime's
// poller; it wakes, sees a packet queued, and tells Run's loop, then waits for the loop to say it
// has read.
//
// The loop (Driver.Run) reads a batch with one recvmmsg (ipConn.Read), stamps it with the
// clock's time, and takes each packet in turn (Driver.receive). PeekVRID finds the instance: the
// socket holds one per VRID. Rules.Check validates the packet as RFC 5798 §7.1 asks, in its
// order: length, version, type, TTL 255, length against the count, checksum, unicast peer, owner,
// v2 authentication and interval, and the address list. A packet that fails is counted under its
// rule and dropped; nothing else happens, whatever it holds.
//
// A valid advert goes to the instance's Machine (Machine.Receive). A backup that hears a master
// of higher priority follows it: it restarts its Master_Down_Timer (RFC 5798 §6.4.2) and asks for
// nothing. A master that hears a better master yields: it asks to send priority 0 and to remove
// its VIPs, and enters BACKUP. The driver carries the actions out in order (Driver.act): adverts
// are queued and sent together with sendmmsg at the end of the event, addresses change through
// the VIPs interface (package vip in the daemon), and a transition is logged and handed to the
// Notifier (the hooks), which never blocks. The timer heap is fixed to the machine's new
// deadline, and the one alarm is set to the earliest of them all.
//
// If the instance is in a sync group, the driver then tells the Policy whether it now yields to
// a master (Policy.Observe). The Policy may decide that its siblings are held back from being
// master; the driver tells their machines (Driver.enact), and so on until nothing changes.
//
// When the alarm goes off (Driver.fire), every backup that is due first reads what its socket
// holds, so that a daemon that was paused does not take over from a master that kept
// advertising; then every due machine ticks (Machine.Tick): a master sends its next advert, a
// backup whose master fell silent for Master_Down_Interval becomes master and announces its VIPs.
package vrrp
