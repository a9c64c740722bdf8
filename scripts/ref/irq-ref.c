/*
 * vfio-irq-ref: the C reference for `vfio bench --suite irq`. It times what the
 * bench times from JS, with nothing else in the way: edu's raise register
 * (BAR0 + 0x60) written through the BAR mapping -> the interrupt -> the
 * eventfd VFIO_DEVICE_SET_IRQS gave the kernel -> epoll_wait() returns ->
 * read() of the eventfd. The JS side waits on the same kind of eventfd, polled
 * by libuv (epoll) in Node's loop.
 *
 * Usage: vfio-irq-ref <group> <device BDF> <msi|intx> <runs> <warmup>
 * Output (stdout), one line:
 *   samples <ns> <ns> ...      CLOCK_MONOTONIC from before the store to after the read, per run
 *   coalesced <n>              runs whose eventfd read returned more than 1 (should be 0)
 * Errors: "error <errno> <what>" on stdout and exit 1.
 *
 * Build: cc -O2 -Wall -o vfio-irq-ref irq-ref.c (scripts/ref/build.sh, or the bench does it into a cache dir).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE 0x60
#define EDU_IRQ_ACK 0x64
#define RAISE_BIT 0x8000u /* not the factorial's (0x1) nor the DMA's (0x100) */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int fail(const char *what)
{
	printf("error %d %s\n", errno, what);
	return 1;
}

static int set_irqs(int dev, unsigned index, unsigned flags, int fd)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int)];
	struct vfio_irq_set *s = (struct vfio_irq_set *)buf;

	s->argsz = sizeof(buf);
	s->flags = flags;
	s->index = index;
	s->start = 0;
	s->count = 1;
	if (flags & VFIO_IRQ_SET_DATA_EVENTFD)
		memcpy(s->data, &fd, sizeof(int));
	else
		s->argsz = sizeof(*s);
	return ioctl(dev, VFIO_DEVICE_SET_IRQS, s);
}

int main(int argc, char **argv)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_region_info bar = { .argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	struct epoll_event ev = { .events = EPOLLIN };
	char path[64];
	int container, group, dev, efd, ep, intx;
	unsigned long runs, warmup, r, coalesced = 0;
	volatile uint32_t *regs;
	uint16_t cmd;
	int64_t *ns;

	if (argc != 6) {
		fprintf(stderr, "usage: vfio-irq-ref <group> <device> <msi|intx> <runs> <warmup>\n");
		return 2;
	}
	intx = !strcmp(argv[3], "intx");
	runs = strtoul(argv[4], NULL, 10);
	warmup = strtoul(argv[5], NULL, 10);
	ns = calloc(runs ? runs : 1, sizeof(*ns));
	if (!ns)
		return fail("calloc");

	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (container < 0)
		return fail("open /dev/vfio/vfio");
	snprintf(path, sizeof(path), "/dev/vfio/%s", argv[1]);
	group = open(path, O_RDWR | O_CLOEXEC);
	if (group < 0)
		return fail("open group");
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) || !(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return fail("group not viable");
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
		return fail("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return fail("VFIO_SET_IOMMU");
	dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, argv[2]);
	if (dev < 0)
		return fail("VFIO_GROUP_GET_DEVICE_FD");
	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &cfg) || ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &bar))
		return fail("VFIO_DEVICE_GET_REGION_INFO");
	/* Memory decode and bus mastering (an MSI is a memory write by the device). */
	if (pread(dev, &cmd, 2, cfg.offset + 4) != 2)
		return fail("read PCI_COMMAND");
	cmd |= 0x6;
	if (pwrite(dev, &cmd, 2, cfg.offset + 4) != 2)
		return fail("write PCI_COMMAND");
	regs = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev, bar.offset);
	if (regs == MAP_FAILED)
		return fail("mmap BAR0");

	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (efd < 0 || ep < 0)
		return fail("eventfd/epoll");
	ev.data.fd = efd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev))
		return fail("epoll_ctl");
	if (set_irqs(dev, intx ? VFIO_PCI_INTX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX,
		     VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, efd))
		return fail("VFIO_DEVICE_SET_IRQS");
	regs[EDU_IRQ_ACK / 4] = 0xffffffffu;

	for (r = 0; r < warmup + runs; r++) {
		struct epoll_event got;
		uint64_t count;
		int64_t t0, t1;
		int n;

		t0 = now_ns();
		regs[EDU_IRQ_RAISE / 4] = RAISE_BIT;
		do
			n = epoll_wait(ep, &got, 1, 5000);
		while (n < 0 && errno == EINTR);
		if (n == 0) {
			errno = ETIMEDOUT;
			return fail("no interrupt within 5 s");
		}
		if (n < 0)
			return fail("epoll_wait");
		if (read(efd, &count, sizeof(count)) != sizeof(count))
			return fail("read eventfd");
		t1 = now_ns();
		if (count != 1)
			coalesced++;
		regs[EDU_IRQ_ACK / 4] = RAISE_BIT;
		/* INTx is masked by the kernel on delivery: unmask once the device has dropped the line. */
		if (intx && set_irqs(dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, -1))
			return fail("VFIO_IRQ_SET_ACTION_UNMASK");
		if (r >= warmup)
			ns[r - warmup] = t1 - t0;
	}
	printf("samples");
	for (r = 0; r < runs; r++)
		printf(" %" PRId64, ns[r]);
	printf("\ncoalesced %lu\n", coalesced);
	/* Closing the device fd (at exit) disables the interrupt and releases the eventfd. */
	return 0;
}
