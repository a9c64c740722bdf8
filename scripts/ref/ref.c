/*
 * vfio-ref: the C reference for `vfio bench --ref`. It issues the same ioctl
 * sequence the addon's plan executor does (MAP_DMA / UNMAP_DMA per plan entry,
 * CLOCK_MONOTONIC around each ioctl) with nothing else in the way, so the
 * bench can print how much the addon adds over plain C.
 *
 * Input (stdin, one record per line, numbers in hex without 0x):
 *   group <id>
 *   cell <index> <backing:4k|thp|hugetlb> <buffer-bytes> <map|unmap> <reps> <warmup> <count>
 *   <vaddr-offset> <iova> <size>        (count lines: the plan, offsets into the buffer)
 * Output (stdout):
 *   cell <index> <ns> <ns> ...          (per measured repetition: sum over the entries of the timed op)
 *   error <index> <errno> <what>        (the cell could not run; the others still do)
 * Exit status: 0, or 1 when the container or group could not be set up.
 *
 * Build: cc -O2 -Wall -o vfio-ref ref.c (scripts/ref/build.sh, or the bench does it into a cache dir).
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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SZ_2M (2UL << 20)

struct entry {
	uint64_t off, iova, size;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int setup(int group_id, int *container_out, int *group_out)
{
	char path[64];
	struct vfio_group_status status = { .argsz = sizeof(status) };
	int container, group, type;

	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (container < 0) {
		fprintf(stderr, "vfio-ref: /dev/vfio/vfio: %s\n", strerror(errno));
		return -1;
	}
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		fprintf(stderr, "vfio-ref: unexpected VFIO API version\n");
		return -1;
	}
	snprintf(path, sizeof(path), "/dev/vfio/%d", group_id);
	group = open(path, O_RDWR | O_CLOEXEC);
	if (group < 0) {
		fprintf(stderr, "vfio-ref: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) || !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		fprintf(stderr, "vfio-ref: group %d not viable\n", group_id);
		return -1;
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container)) {
		fprintf(stderr, "vfio-ref: SET_CONTAINER: %s\n", strerror(errno));
		return -1;
	}
	type = ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU;
	if (ioctl(container, VFIO_SET_IOMMU, type)) {
		fprintf(stderr, "vfio-ref: SET_IOMMU: %s\n", strerror(errno));
		return -1;
	}
	*container_out = container;
	*group_out = group;
	return 0;
}

/* The same three backings as the addon: plain 4 KiB pages, THP-eligible, hugetlbfs. */
static void *alloc_buffer(const char *backing, size_t size, size_t *mapped)
{
	void *p;

	if (!strcmp(backing, "hugetlb")) {
		*mapped = (size + SZ_2M - 1) & ~(SZ_2M - 1);
		p = mmap(NULL, *mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	if (!strcmp(backing, "thp")) {
		/* Over-allocate so the buffer can start on a 2 MiB boundary, as a THP needs. */
		uint8_t *raw = mmap(NULL, size + SZ_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uintptr_t aligned;

		if (raw == MAP_FAILED)
			return NULL;
		aligned = ((uintptr_t)raw + SZ_2M - 1) & ~(SZ_2M - 1);
		if (aligned > (uintptr_t)raw)
			munmap(raw, aligned - (uintptr_t)raw);
		munmap((uint8_t *)aligned + size, (uintptr_t)raw + SZ_2M - aligned);
		madvise((void *)aligned, size, MADV_HUGEPAGE);
		*mapped = size;
		return (void *)aligned;
	}
	*mapped = size;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, size, MADV_NOHUGEPAGE);
	return p;
}

static int map_all(int container, uint8_t *buf, const struct entry *e, unsigned long n, int64_t *ns)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)(buf + e[i].off),
			.iova = e[i].iova,
			.size = e[i].size,
		};
		int64_t t0 = now_ns();
		int rc = ioctl(container, VFIO_IOMMU_MAP_DMA, &m);

		*ns += now_ns() - t0;
		if (rc)
			return -errno;
	}
	return 0;
}

static int unmap_all(int container, const struct entry *e, unsigned long n, int64_t *ns)
{
	unsigned long i;
	int err = 0;

	/* Every entry, even after a failure: nothing may stay pinned. */
	for (i = 0; i < n; i++) {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = e[i].iova, .size = e[i].size };
		int64_t t0 = now_ns();

		if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &u) && !err)
			err = -errno;
		*ns += now_ns() - t0;
	}
	return err;
}

static void run_cell(int container, unsigned long index, const char *backing, size_t bufsize, const char *op,
		     unsigned long reps, unsigned long warmup, struct entry *e, unsigned long n)
{
	size_t mapped, off;
	uint8_t *buf = alloc_buffer(backing, bufsize, &mapped);
	unsigned long r;
	int measure_unmap = !strcmp(op, "unmap");

	if (!buf) {
		printf("error %lu %d alloc %s\n", index, errno, backing);
		return;
	}
	for (off = 0; off < mapped; off += 4096)
		buf[off] = 1; /* prefault, like the addon's prefault option */
	printf("cell %lu", index);
	for (r = 0; r < warmup + reps; r++) {
		int64_t map_ns = 0, unmap_ns = 0;
		int rc = map_all(container, buf, e, n, &map_ns);
		int urc = unmap_all(container, e, n, &unmap_ns);

		if (rc || urc) {
			printf("\nerror %lu %d %s\n", index, -(rc ? rc : urc), rc ? "MAP_DMA" : "UNMAP_DMA");
			munmap(buf, mapped);
			return;
		}
		if (r >= warmup)
			printf(" %lld", (long long)(measure_unmap ? unmap_ns : map_ns));
	}
	printf("\n");
	fflush(stdout);
	munmap(buf, mapped);
}

int main(void)
{
	char line[256], backing[16], op[8];
	int container = -1, group = -1, group_id;
	unsigned long index, reps, warmup, n, i;
	size_t bufsize;

	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "group %d", &group_id) == 1) {
			if (setup(group_id, &container, &group))
				return 1;
		} else if (sscanf(line, "cell %lx %15s %zx %7s %lx %lx %lx", &index, backing, &bufsize, op, &reps, &warmup, &n) == 7) {
			struct entry *e = calloc(n ? n : 1, sizeof(*e));

			if (!e)
				return 1;
			for (i = 0; i < n; i++) {
				if (!fgets(line, sizeof(line), stdin) ||
				    sscanf(line, "%" SCNx64 " %" SCNx64 " %" SCNx64, &e[i].off, &e[i].iova, &e[i].size) != 3) {
					fprintf(stderr, "vfio-ref: short plan for cell %lu\n", index);
					return 1;
				}
			}
			if (container < 0) {
				fprintf(stderr, "vfio-ref: cell before group\n");
				return 1;
			}
			run_cell(container, index, backing, bufsize, op, reps, warmup, e, n);
			free(e);
		}
	}
	if (group >= 0)
		close(group);
	if (container >= 0)
		close(container);
	return 0;
}
