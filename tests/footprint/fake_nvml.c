/* A stand-in for libnvidia-ml.so.1 that tests load through DiscoverNvml(path) or
 * SOBRE_NVML_LIBRARY. It exports the NVML calls sobre uses, with NVML's C signatures, and takes
 * its GPUs from the file named by SOBRE_FAKE_NVML_CONFIG, read at each first nvmlInit_v2.
 *
 * Config format: one directive per line; blank lines and lines starting with '#' are ignored.
 *   init_error <code>                    nvmlInit_v2 fails with this nvmlReturn_t (e.g. 9).
 *   gpu "<name>" energy <start_mj> <step_mj>
 *       Total-energy counter: reads return start, start+step, start+2*step, ... (mJ). A
 *       negative step makes the counter run backwards (clamped at 0). Power is also readable
 *       and reports 100000 mW.
 *   gpu "<name>" power <milliwatts>
 *       No total-energy counter (NVML_ERROR_NOT_SUPPORTED); nvmlDeviceGetPowerUsage returns
 *       the given constant.
 *   gpu "<name>" none                    Neither energy nor power is supported.
 * No config variable means no GPU; an unreadable or malformed file makes nvmlInit_v2 return
 * NVML_ERROR_UNKNOWN (999) after printing the reason on stderr.
 *
 * If SOBRE_FAKE_NVML_LOG names a file, each successful nvmlInit_v2 appends "init" and each
 * nvmlShutdown call appends "shutdown" to it, one per line.
 *
 * Test-only controls (not NVML), for tests in the same process:
 *   int fake_nvml_set_power_mw(unsigned index, unsigned milliwatts);
 *   int fake_nvml_set_energy_mj(unsigned index, unsigned long long millijoules);
 *   int fake_nvml_fail_next_read(unsigned index, int nvml_return);
 * The last makes the next energy or power read of that GPU return the code; an energy counter
 * still advances by its step during the failed read, as real energy keeps flowing. Each
 * returns 0, or -1 for an unknown GPU index.
 *
 * Not thread-safe: tests call it from one thread. */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
typedef struct FakeGpu* nvmlDevice_t;

enum {
  kNvmlSuccess = 0,
  kNvmlUninitialized = 1,
  kNvmlInvalidArgument = 2,
  kNvmlNotSupported = 3,
  kNvmlInsufficientSize = 7,
  kNvmlUnknown = 999
};

enum FakeMode { kModeNone, kModeEnergy, kModePower };

#define FAKE_MAX_GPUS 16
#define FAKE_NAME_BYTES 96

struct FakeGpu {
  char name[FAKE_NAME_BYTES];
  enum FakeMode mode;
  unsigned long long energy_mj; /* the value the next read returns */
  long long step_mj;
  unsigned int power_mw;
  nvmlReturn_t fail_next; /* returned once by the next read when non-zero */
};

static struct FakeGpu g_gpus[FAKE_MAX_GPUS];
static unsigned int g_gpu_count;
static int g_init_count; /* NVML reference-counts init and shutdown; so does the fake */

static void AppendLog(const char* line) {
  const char* path = getenv("SOBRE_FAKE_NVML_LOG");
  if (path == NULL || path[0] == '\0') return;
  FILE* f = fopen(path, "a");
  if (f == NULL) return;
  fprintf(f, "%s\n", line);
  fclose(f);
}

static const char* SkipSpace(const char* p) {
  while (*p != '\0' && isspace((unsigned char)*p)) ++p;
  return p;
}

/* Parses the rest of a `gpu` line (after the keyword) into `gpu`; returns 0 on success. */
static int ParseGpu(const char* p, struct FakeGpu* gpu) {
  const char* end;
  size_t len;
  char mode[16];
  int used = 0;
  p = SkipSpace(p);
  if (*p != '"') return -1;
  ++p;
  end = strchr(p, '"');
  if (end == NULL) return -1;
  len = (size_t)(end - p);
  if (len >= FAKE_NAME_BYTES) return -1;
  memset(gpu, 0, sizeof(*gpu));
  memcpy(gpu->name, p, len);
  p = end + 1;
  if (sscanf(p, " %15s%n", mode, &used) != 1) return -1;
  p += used;
  used = 0;
  if (strcmp(mode, "energy") == 0) {
    gpu->mode = kModeEnergy;
    gpu->power_mw = 100000;
    if (sscanf(p, " %llu %lld%n", &gpu->energy_mj, &gpu->step_mj, &used) != 2) return -1;
  } else if (strcmp(mode, "power") == 0) {
    gpu->mode = kModePower;
    if (sscanf(p, " %u%n", &gpu->power_mw, &used) != 1) return -1;
  } else if (strcmp(mode, "none") == 0) {
    gpu->mode = kModeNone;
  } else {
    return -1;
  }
  p = SkipSpace(p + used);
  return *p == '\0' ? 0 : -1;
}

/* Loads the config into the globals; returns the code nvmlInit_v2 should give. */
static nvmlReturn_t LoadConfig(void) {
  const char* path = getenv("SOBRE_FAKE_NVML_CONFIG");
  FILE* f;
  char line[512];
  int line_no = 0;
  nvmlReturn_t result = kNvmlSuccess;
  g_gpu_count = 0;
  if (path == NULL || path[0] == '\0') return kNvmlSuccess;
  f = fopen(path, "r");
  if (f == NULL) {
    fprintf(stderr, "fake_nvml: cannot open SOBRE_FAKE_NVML_CONFIG=%s\n", path);
    return kNvmlUnknown;
  }
  while (fgets(line, sizeof(line), f) != NULL) {
    const char* p = SkipSpace(line);
    int used = 0;
    ++line_no;
    if (*p == '\0' || *p == '#') continue;
    if (strncmp(p, "init_error", 10) == 0 && isspace((unsigned char)p[10])) {
      int code = 0;
      if (sscanf(p + 10, " %d%n", &code, &used) != 1 || *SkipSpace(p + 10 + used) != '\0') {
        fprintf(stderr, "fake_nvml: %s:%d: expected init_error <code>\n", path, line_no);
        result = kNvmlUnknown;
        break;
      }
      result = code;
    } else if (strncmp(p, "gpu", 3) == 0 && isspace((unsigned char)p[3])) {
      if (g_gpu_count == FAKE_MAX_GPUS || ParseGpu(p + 3, &g_gpus[g_gpu_count]) != 0) {
        fprintf(stderr, "fake_nvml: %s:%d: bad gpu line: %s", path, line_no, line);
        result = kNvmlUnknown;
        break;
      }
      ++g_gpu_count;
    } else {
      fprintf(stderr, "fake_nvml: %s:%d: unknown directive: %s", path, line_no, line);
      result = kNvmlUnknown;
      break;
    }
  }
  fclose(f);
  if (result != kNvmlSuccess) g_gpu_count = 0;
  return result;
}

static int ValidDevice(nvmlDevice_t device) {
  return device != NULL && device >= g_gpus && device < g_gpus + g_gpu_count;
}

FAKE_EXPORT nvmlReturn_t nvmlInit_v2(void) {
  if (g_init_count == 0) {
    nvmlReturn_t rc = LoadConfig();
    if (rc != kNvmlSuccess) return rc;
  }
  ++g_init_count;
  AppendLog("init");
  return kNvmlSuccess;
}

FAKE_EXPORT nvmlReturn_t nvmlShutdown(void) {
  AppendLog("shutdown");
  if (g_init_count == 0) return kNvmlUninitialized;
  --g_init_count;
  return kNvmlSuccess;
}

FAKE_EXPORT const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 6: return "Not Found";
    case 7: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case 15: return "GPU is lost";
    default: return "Unknown Error";
  }
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* device_count) {
  if (g_init_count == 0) return kNvmlUninitialized;
  if (device_count == NULL) return kNvmlInvalidArgument;
  *device_count = g_gpu_count;
  return kNvmlSuccess;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  if (g_init_count == 0) return kNvmlUninitialized;
  if (device == NULL || index >= g_gpu_count) return kNvmlInvalidArgument;
  *device = &g_gpus[index];
  return kNvmlSuccess;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length) {
  size_t len;
  if (g_init_count == 0) return kNvmlUninitialized;
  if (!ValidDevice(device) || name == NULL) return kNvmlInvalidArgument;
  len = strlen(device->name);
  if (length < len + 1) return kNvmlInsufficientSize;
  memcpy(name, device->name, len + 1);
  return kNvmlSuccess;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
                                                             unsigned long long* energy) {
  nvmlReturn_t failure;
  if (g_init_count == 0) return kNvmlUninitialized;
  if (!ValidDevice(device) || energy == NULL) return kNvmlInvalidArgument;
  if (device->mode != kModeEnergy) return kNvmlNotSupported;
  failure = device->fail_next;
  device->fail_next = kNvmlSuccess;
  if (failure == kNvmlSuccess) *energy = device->energy_mj;
  if (device->step_mj >= 0) {
    device->energy_mj += (unsigned long long)device->step_mj;
  } else if ((unsigned long long)(-device->step_mj) > device->energy_mj) {
    device->energy_mj = 0;
  } else {
    device->energy_mj -= (unsigned long long)(-device->step_mj);
  }
  return failure;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int* power) {
  nvmlReturn_t failure;
  if (g_init_count == 0) return kNvmlUninitialized;
  if (!ValidDevice(device) || power == NULL) return kNvmlInvalidArgument;
  if (device->mode == kModeNone) return kNvmlNotSupported;
  failure = device->fail_next;
  device->fail_next = kNvmlSuccess;
  if (failure == kNvmlSuccess) *power = device->power_mw;
  return failure;
}

FAKE_EXPORT int fake_nvml_set_power_mw(unsigned int index, unsigned int milliwatts) {
  if (index >= g_gpu_count) return -1;
  g_gpus[index].power_mw = milliwatts;
  return 0;
}

FAKE_EXPORT int fake_nvml_set_energy_mj(unsigned int index, unsigned long long millijoules) {
  if (index >= g_gpu_count) return -1;
  g_gpus[index].energy_mj = millijoules;
  return 0;
}

FAKE_EXPORT int fake_nvml_fail_next_read(unsigned int index, int nvml_return) {
  if (index >= g_gpu_count) return -1;
  g_gpus[index].fail_next = nvml_return;
  return 0;
}
