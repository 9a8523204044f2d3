#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# dracut module: vouch's initramfs stage (/usr/lib/vouch/initramfs-stage),
# run by a unit before udev in a systemd initrd, else by a pre-udev hook.
# Enabled by /usr/lib/dracut/dracut.conf.d/90-vouch.conf; leave it out with
# omit_dracutmodules+=" vouch ".

check() {
    require_binaries /usr/sbin/vouchd || return 1
    return 0
}

depends() {
    return 0
}

install() {
    inst_binary /usr/sbin/vouchd
    inst_script /usr/lib/vouch/initramfs-stage
    # pcr, template, pin_dir, log_dir and ringbuf_size must be the real root's.
    [ -f /etc/vouch/vouch.conf ] && inst_simple /etc/vouch/vouch.conf
    if dracut_module_included "systemd"; then
        inst_simple "$moddir/vouch-initramfs.service" "$systemdsystemunitdir/vouch-initramfs.service"
        $SYSTEMCTL -q --root "$initdir" enable vouch-initramfs.service
    else
        inst_hook pre-udev 00 "$moddir/vouch-pre-udev.sh"
    fi
}
