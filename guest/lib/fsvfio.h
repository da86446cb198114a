/* SPDX-License-Identifier: MIT */
/*
 * The ring device (ivshmem-doorbell) through VFIO, inside a QEMU guest:
 * its BAR2 (the ring region) mapped, its MSI-X vector 0 on an eventfd, and
 * its Doorbell register (BAR0 + 12) to ring the switch.
 *
 * Needs an IOMMU in the guest (QEMU -device intel-iommu,intremap=on, the
 * kernel booted with intel_iommu=on) and the vfio-pci module. The device is
 * handed to vfio-pci with driver_override; bus mastering is switched on, or
 * the device's MSI-X writes would never leave it. libc and kernel headers
 * only.
 */
#ifndef FSVFIO_H
#define FSVFIO_H

#include <stdint.h>

struct fsvfio {
	int container, group, device;
	int irq_fd;           /* eventfd on MSI-X vector 0 */
	void *bar2;
	uint64_t bar2_size;
	int64_t doorbell_off; /* device fd offset of the Doorbell register */
};

/* bdf is the PCI address as in /sys/bus/pci/devices ("0000:00:03.0").
 * 0, or -errno with a sentence in err. */
int fsvfio_open(struct fsvfio *v, const char *bdf, char *err,
		unsigned int errlen);
void fsvfio_close(struct fsvfio *v);

#endif /* FSVFIO_H */
