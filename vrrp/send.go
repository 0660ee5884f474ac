package vrrp

// send queues an advertisement with the given priority to the multicast group or every peer.
func (d *Driver) send(in *instance, prio uint8) {
	s := in.s
	if s.conn == nil {
		in.cnt.SendErrors++
		return
	}
	in.adv.Priority = prio
	for _, dst := range in.dsts {
		start := len(s.outBuf)
		buf, err := in.adv.AppendBinary(s.outBuf)
		if err != nil {
			// The configuration was validated; this is a bug, not a network condition.
			d.opt.Log.Error("cannot encode advertisement", "instance", in.cfg.Name, "err", err)
			return
		}
		s.outBuf = buf
		msg := buf[start:]
		if in.cfg.Machine.Version == V3 && (s.key.ipv6 || in.cfg.Checksum == ChecksumPseudoHeader) {
			PutChecksum(msg, in.src, dst)
		}
		s.out = append(s.out, Outgoing{Src: in.src, Dst: dst, Msg: msg})
		s.outIn = append(s.outIn, in)
	}
}

// flush sends every queued advertisement, a socket's at once.
func (d *Driver) flush() {
	for _, s := range d.socks {
		d.flushSock(s)
	}
}

func (d *Driver) flushSock(s *sock) {
	for s.conn != nil && len(s.out) > 0 {
		n, err := s.conn.Send(s.out)
		n = min(max(n, 0), len(s.out))
		if err != nil && n == len(s.out) {
			n-- // the conn broke its contract: count the last one as failed
		}
		for _, in := range s.outIn[:n] {
			in.cnt.AdvertsSent++
		}
		if err == nil {
			break
		}
		// The one at n failed: count it, and go on with the rest.
		in := s.outIn[n]
		in.cnt.SendErrors++
		d.opt.Log.Warn("sending advertisement failed", "instance", in.cfg.Name, "to", s.out[n].Dst, "err", err)
		s.out, s.outIn = s.out[n+1:], s.outIn[n+1:]
	}
	s.out, s.outIn, s.outBuf = s.out[:0], s.outIn[:0], s.outBuf[:0]
}
