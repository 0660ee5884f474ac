package main

import "github.com/vrrpd/vrrpd/test/lab"

// captureBuffer is a capture's receive buffer. The socket default (about 200 KiB) holds a few
// hundred frames, fewer than one takeover of 1000 VIPs sends (5 GARPs each) or one second of
// 1020 instances' adverts when they go out together; a frame the kernel drops there would pass
// for one the daemon never sent.
const captureBuffer = 64 << 20

// startCapture starts capturing on interface ifname of h, with captureBuffer, so that a trial
// can check with Drops that it lost no frame.
func startCapture(h *lab.Host, ifname string) (*lab.Capture, error) {
	return lab.StartCaptureOn(h, ifname, captureBuffer)
}
