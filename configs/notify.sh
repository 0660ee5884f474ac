#!/bin/sh
# Example vrrpd notify hook: install as /etc/vrrpd/notify.sh, mode 0755.
#
# vrrpd runs it with the arguments written in [instance.notify] (lb1.toml passes the new state,
# e.g. `notify.sh MASTER`), without a shell, and kills it after notify.timeout (30s by default).
# The environment describes the change: VRRPD_INSTANCE, VRRPD_STATE, VRRPD_PREVIOUS_STATE,
# VRRPD_PRIORITY, VRRPD_VRID, VRRPD_INTERFACE, VRRPD_VIPS and VRRPD_REASON. This hook logs it to
# syslog; add what your site needs to the case below.

logger -t vrrpd-notify "$VRRPD_INSTANCE: $VRRPD_PREVIOUS_STATE -> $VRRPD_STATE ($VRRPD_REASON); VIPs $VRRPD_VIPS"

case $VRRPD_STATE in
MASTER) ;; # this node holds the VIPs, e.g. start a service that must run only here
BACKUP) ;;
FAULT) ;;
STOP) ;;
esac
