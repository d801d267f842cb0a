# virtio-net with vhost-net: the checks of vnet.sh (pings, 8 MiB TCP each way with checksums,
# offloads, driver reload) with vhost=on, then with vhost=on and INTx (pci=nomsi).
# lab-smp: 1
# lab-timeout: 600
VNET_MODES=vhost
. /lab/scenarios/vnet.sh
