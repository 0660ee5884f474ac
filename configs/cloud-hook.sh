#!/bin/sh
# Example vrrpd cloud hook: moves a floating IP to this node through the cloud provider's API.
# Install as /etc/vrrpd/cloud-hook.sh, mode 0755, owned by root.
#
# On a cloud VM the network does not learn where an address lives from gratuitous ARP: the
# provider's API says which VM an address belongs to. So the node that becomes master claims the
# address there, and claims it again after a split brain heals (two masters at once, the other
# one possibly the last to claim it). vrrpd runs the reassert hook for that: while master, after
# it heard another master and answered it. In lb1.toml and lb2.toml:
#
#   [instance.notify]
#   master   = ["/etc/vrrpd/cloud-hook.sh"]
#   reassert = ["/etc/vrrpd/cloud-hook.sh"]
#   timeout  = "30s"        # the API call's retries below fit in it
#
# Nothing is needed on BACKUP, FAULT or STOP: the next master claims the address from here.
# Claiming is idempotent, so running it twice (master, then reassert) is harmless.
#
# vrrpd runs the hook without a shell, with VRRPD_STATE, VRRPD_VIPS ("10.0.4.99/24 ...") and the
# rest of SPEC.md's environment; what it prints is logged with the hook's name. It reads its
# settings from the environment (for example a systemd drop-in's Environment= lines):
#
#   CLOUD_PROVIDER   aws | gcp | tencent; unset (or anything else), it only says what it would do
#   AWS_ENI          aws: this node's network interface ID, e.g. eni-0123456789abcdef0
#   GCP_INSTANCE, GCP_PEER_INSTANCE, GCP_ZONE
#                    gcp: this VM's and the other node's names, and their zone
#   TENCENT_HAVIP    tencent: the HAVIP's ID, e.g. havip-abcd1234
#   TENCENT_INSTANCE tencent: this node's instance ID, e.g. ins-abcd1234
#
# The provider's CLI must be installed and allowed to do this: an instance role (AWS), a
# service account (GCP), or a CAM role (Tencent Cloud). No SDK is needed.

set -u

# Only a master claims, whichever hook runs this.
if [ "${VRRPD_STATE:-}" != MASTER ]; then
	exit 0
fi

instance=${VRRPD_INSTANCE:-}
why=${VRRPD_REASON:-}
provider=${CLOUD_PROVIDER:-}
case $provider in
aws) : "${AWS_ENI:?cloud-hook: set AWS_ENI to the ID of the network interface of this node}" ;;
gcp)
	: "${GCP_INSTANCE:?cloud-hook: set GCP_INSTANCE to the name of this VM}"
	: "${GCP_PEER_INSTANCE:?cloud-hook: set GCP_PEER_INSTANCE to the name of the other node}"
	: "${GCP_ZONE:?cloud-hook: set GCP_ZONE to their zone}"
	;;
tencent)
	: "${TENCENT_HAVIP:?cloud-hook: set TENCENT_HAVIP to the ID of the HAVIP}"
	: "${TENCENT_INSTANCE:?cloud-hook: set TENCENT_INSTANCE to the instance ID of this node}"
	;;
*) provider=dry-run ;;
esac

# claim ADDRESS: make ADDRESS this node's at the provider. The provider's CLI call goes here.
claim() {
	case $provider in
	aws)
		# A secondary private IP moves between ENIs of one subnet; --allow-reassignment takes
		# it from the other node's ENI in the same call.
		aws ec2 assign-private-ip-addresses --network-interface-id "$AWS_ENI" \
			--private-ip-addresses "$1" --allow-reassignment
		;;
	gcp)
		# An alias IP range belongs to one VM at a time: drop it from the other node (which may
		# be down; that is not an error here), then add it to this one. --aliases replaces all
		# of a VM's alias ranges: list the others too if it has any.
		gcloud compute instances network-interfaces update "$GCP_PEER_INSTANCE" \
			--zone "$GCP_ZONE" --aliases "" || true
		gcloud compute instances network-interfaces update "$GCP_INSTANCE" \
			--zone "$GCP_ZONE" --aliases "$1/32"
		;;
	tencent)
		# Tencent Cloud HAVIP ($TENCENT_HAVIP holds $1): in a VPC where it follows ARP, vrrpd's
		# gratuitous ARP moves it and this hook is not needed. Where it is switched through
		# the API, put the tccli call that binds the HAVIP to $TENCENT_INSTANCE here, as the
		# VPC API reference gives it, and delete the two lines below.
		echo "cloud-hook: CLOUD_PROVIDER=tencent: add the tccli call to configs/cloud-hook.sh first" >&2
		exit 1
		;;
	dry-run)
		echo "cloud-hook: dry run (CLOUD_PROVIDER is not set): would claim $1 for $instance ($why)"
		;;
	esac
}

status=0
for vip in ${VRRPD_VIPS:-}; do
	addr=${vip%/*}
	# Cloud APIs fail now and then: three tries, well within notify.timeout.
	tries=1
	until claim "$addr"; do
		if [ "$tries" -ge 3 ]; then
			echo "cloud-hook: could not claim $addr for $instance after $tries tries" >&2
			status=1
			continue 2
		fi
		tries=$((tries + 1))
		sleep 2
	done
	if [ "$provider" != dry-run ]; then
		echo "cloud-hook: claimed $addr for $instance at $provider ($why)"
	fi
done
exit "$status"
