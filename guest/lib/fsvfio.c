// SPDX-License-Identifier: MIT
/* The ring device through VFIO; see fsvfio.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "fsvfio.h"

#define IVSHMEM_DOORBELL 12 /* BAR0 register: (peer << 16) | vector */
#define PCI_COMMAND 4
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4

static int put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Hands the device to vfio-pci (no driver binds ivshmem otherwise). */
static int bind_vfio(const char *bdf, char *err, unsigned int errlen)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	int rc;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		if (!strcmp(basename(link), "vfio-pci"))
			return 0;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
		put(path, bdf);
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	rc = put(path, "vfio-pci");
	if (!rc)
		rc = put("/sys/bus/pci/drivers_probe", bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (rc || n <= 0) {
		snprintf(err, errlen, "cannot bind %s to vfio-pci (%s): is the vfio-pci module loaded?",
			 bdf, rc ? strerror(-rc) : "no driver took it");
		return rc ? rc : -ENODEV;
	}
	return 0;
}

static int region(struct fsvfio *v, unsigned int index,
		  struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, ri) ? -errno : 0;
}

int fsvfio_open(struct fsvfio *v, const char *bdf, char *err,
		unsigned int errlen)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_region_info ri;
	char path[PATH_MAX], link[PATH_MAX];
	union {
		struct vfio_irq_set set;
		char buf[sizeof(struct vfio_irq_set) + sizeof(int)];
	} irq;
	uint16_t cmd;
	ssize_t n;
	int rc;

	memset(v, 0, sizeof(*v));
	v->container = v->group = v->device = v->irq_fd = -1;
	v->bar2 = MAP_FAILED;
	rc = bind_vfio(bdf, err, errlen);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0) {
		snprintf(err, errlen, "%s has no IOMMU group: boot the guest with intel_iommu=on and give QEMU -device intel-iommu,intremap=on",
			 bdf);
		return -ENODEV;
	}
	link[n] = '\0';
	snprintf(path, sizeof(path), "/dev/vfio/%s", basename(link));

	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (v->container < 0 ||
	    ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    !ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU)) {
		snprintf(err, errlen, "/dev/vfio/vfio: no VFIO type 1 IOMMU (%s)",
			 strerror(errno));
		goto fail;
	}
	v->group = open(path, O_RDWR | O_CLOEXEC);
	if (v->group < 0 || ioctl(v->group, VFIO_GROUP_GET_STATUS, &gs) ||
	    !(gs.flags & VFIO_GROUP_FLAGS_VIABLE) ||
	    ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container) ||
	    ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU)) {
		snprintf(err, errlen, "%s: cannot use the IOMMU group (%s)", path,
			 strerror(errno));
		goto fail;
	}
	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (v->device < 0) {
		snprintf(err, errlen, "%s: cannot open the device (%s)", bdf,
			 strerror(errno));
		goto fail;
	}

	/* Memory decoding and bus mastering (MSI-X messages are writes the
	 * device makes). */
	if (region(v, VFIO_PCI_CONFIG_REGION_INDEX, &ri) ||
	    pread(v->device, &cmd, 2, (off_t)ri.offset + PCI_COMMAND) != 2) {
		snprintf(err, errlen, "%s: cannot read its config space", bdf);
		goto fail;
	}
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(v->device, &cmd, 2, (off_t)ri.offset + PCI_COMMAND) != 2) {
		snprintf(err, errlen, "%s: cannot enable bus mastering", bdf);
		goto fail;
	}
	if (region(v, VFIO_PCI_BAR0_REGION_INDEX, &ri) ||
	    ri.size < IVSHMEM_DOORBELL + 4) {
		snprintf(err, errlen, "%s: no ivshmem registers in BAR0", bdf);
		goto fail;
	}
	v->doorbell_off = (int64_t)(ri.offset + IVSHMEM_DOORBELL);
	if (region(v, VFIO_PCI_BAR2_REGION_INDEX, &ri) || !ri.size ||
	    !(ri.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		snprintf(err, errlen, "%s: BAR2 cannot be mapped", bdf);
		goto fail;
	}
	v->bar2_size = ri.size;
	v->bar2 = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       v->device, (off_t)ri.offset);
	if (v->bar2 == MAP_FAILED) {
		snprintf(err, errlen, "%s: cannot map BAR2 (%s)", bdf,
			 strerror(errno));
		goto fail;
	}

	v->irq_fd = eventfd(0, EFD_CLOEXEC);
	memset(&irq, 0, sizeof(irq));
	irq.set.argsz = sizeof(irq);
	irq.set.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	irq.set.index = VFIO_PCI_MSIX_IRQ_INDEX;
	irq.set.start = 0;
	irq.set.count = 1;
	memcpy(irq.set.data, &v->irq_fd, sizeof(int));
	if (v->irq_fd < 0 || ioctl(v->device, VFIO_DEVICE_SET_IRQS, &irq.set)) {
		snprintf(err, errlen, "%s: cannot take MSI-X vector 0 (%s): is it an ivshmem-doorbell device with vectors=1?",
			 bdf, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	rc = errno ? -errno : -EIO;
	fsvfio_close(v);
	return rc;
}

void fsvfio_close(struct fsvfio *v)
{
	if (v->bar2 != MAP_FAILED)
		munmap(v->bar2, v->bar2_size);
	if (v->irq_fd >= 0)
		close(v->irq_fd);
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	v->bar2 = MAP_FAILED;
	v->irq_fd = v->device = v->group = v->container = -1;
}
