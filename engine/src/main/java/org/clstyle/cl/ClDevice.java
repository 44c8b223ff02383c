package org.clstyle.cl;

import static org.lwjgl.opencl.CL10.*;

import java.nio.ByteBuffer;
import java.nio.IntBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.lwjgl.PointerBuffer;
import org.lwjgl.opencl.CL;
import org.lwjgl.system.Configuration;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;
import org.lwjgl.system.Platform;

/** One OpenCL device and what it reports about itself. Discovery and selection live here too. */
public record ClDevice(
        int index,
        long platformId,
        long deviceId,
        String platformName,
        String name,
        String vendor,
        String type,
        String driverVersion,
        String deviceVersion,
        String openclCVersion,
        int computeUnits,
        long globalMemBytes,
        long maxAllocBytes,
        long maxWorkGroupSize,
        long localMemBytes,
        boolean fp16,
        boolean fp64,
        String extensions,
        long[] maxWorkItemSizes,
        boolean available,
        boolean compilerAvailable) {

    /**
     * CL_DEVICE_TYPE_ALL as the unsigned 64-bit cl_device_type. LWJGL declares it as the int
     * 0xFFFFFFFF, which widens to 0xFFFFFFFFFFFFFFFF when passed as a long; strict runtimes (Mesa's
     * rusticl) reject that with CL_INVALID_DEVICE_TYPE.
     */
    public static final long DEVICE_TYPE_ALL = 0xFFFFFFFFL;

    /** The smallest work-group limit the kernels are tested with (ClLimitsTest); below it a device is marked unsupported. */
    public static final long MIN_WORK_GROUP = 64;

    /** The smallest local memory the kernels are tested with (ClLimitsTest); below it a device is marked unsupported. */
    public static final long MIN_LOCAL_MEM_BYTES = 16L << 10;

    /**
     * Why this device cannot run clstyle's kernels, one reason per entry; empty when it meets the
     * minimum: available, with a compiler, OpenCL C 1.2 or later (programs are built with
     * -cl-std=CL1.2), at least {@link #MIN_WORK_GROUP} work-items per group (and along dimension 0)
     * and {@link #MIN_LOCAL_MEM_BYTES} of local memory.
     */
    public List<String> unmetRequirements() {
        List<String> why = new ArrayList<>();
        if (!available) {
            why.add("the driver reports it unavailable (CL_DEVICE_AVAILABLE is false)");
        }
        if (!compilerAvailable) {
            why.add("no OpenCL C compiler (CL_DEVICE_COMPILER_AVAILABLE is false)");
        }
        int[] c = openclCVersionNumber();
        if (c == null || c[0] < 1 || (c[0] == 1 && c[1] < 2)) {
            why.add("OpenCL C 1.2 or later needed, device reports \"" + openclCVersion.trim() + "\"");
        }
        if (maxWorkGroupSize < MIN_WORK_GROUP) {
            why.add("max work-group size " + maxWorkGroupSize + " < " + MIN_WORK_GROUP);
        } else if (maxWorkItemSizes.length > 0 && maxWorkItemSizes[0] < MIN_WORK_GROUP) {
            why.add("max work-items along dimension 0 " + maxWorkItemSizes[0] + " < " + MIN_WORK_GROUP);
        }
        if (localMemBytes < MIN_LOCAL_MEM_BYTES) {
            why.add("local memory " + localMemBytes + " bytes < " + MIN_LOCAL_MEM_BYTES);
        }
        return why;
    }

    /** Major and minor of "OpenCL C M.N ...", or null when the string does not parse. */
    int[] openclCVersionNumber() {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("OpenCL C (\\d+)\\.(\\d+)").matcher(openclCVersion);
        return m.find() ? new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))} : null;
    }

    /**
     * This device as if it allowed at most {@code maxWorkGroup} work-items per group (and per
     * dimension) and {@code localBytes} of local memory: ops choose their kernels from these limits
     * and {@link ClKernel#launch} enforces them, so tests on a large CPU device check that every op
     * fits a small GPU (32 KiB local memory, 256 work-items). Never raises a limit.
     */
    public ClDevice withLimits(long maxWorkGroup, long localBytes) {
        long wg = Math.min(maxWorkGroup, maxWorkGroupSize);
        long[] items = maxWorkItemSizes.clone();
        for (int i = 0; i < items.length; i++) {
            items[i] = Math.min(items[i], wg);
        }
        return new ClDevice(index, platformId, deviceId, platformName, name, vendor, type, driverVersion,
                deviceVersion, openclCVersion, computeUnits, globalMemBytes, maxAllocBytes, wg,
                Math.min(localBytes, localMemBytes), fp16, fp64, extensions, items, available, compilerAvailable);
    }

    /** True for CL_DEVICE_TYPE_GPU devices. */
    public boolean isGpu() { return type.contains("GPU"); }

    /**
     * True for CPU devices that are not also GPUs: the check by which ops choose their register-blocked,
     * barrier-free kernels over the local-memory tiled ones.
     */
    public boolean isCpu() { return !isGpu() && type.contains("CPU"); }

    /** A one-line summary for logs and error messages. */
    public String label() { return "[" + index + "] " + name.trim() + " (" + platformName.trim() + ")"; }

    /** Every device on every platform, numbered in discovery order. Empty when no platform exists. */
    public static List<ClDevice> list() {
        ensureLoaded();
        List<ClDevice> out = new ArrayList<>();
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer n = stack.mallocInt(1);
            int rc = clGetPlatformIDs(null, n);
            if (rc == -1001 || (rc == 0 && n.get(0) == 0)) {
                return out; // CL_PLATFORM_NOT_FOUND_KHR: an ICD loader with no drivers
            }
            ClError.check(rc, "clGetPlatformIDs");
            PointerBuffer platforms = stack.mallocPointer(n.get(0));
            ClError.check(clGetPlatformIDs(platforms, (IntBuffer) null), "clGetPlatformIDs");
            for (int p = 0; p < platforms.capacity(); p++) {
                long platform = platforms.get(p);
                String platformName;
                try {
                    platformName = platformString(platform, CL_PLATFORM_NAME);
                } catch (ClException e) {
                    continue;
                }
                IntBuffer nd = stack.mallocInt(1);
                nd.put(0, 0);
                rc = clGetDeviceIDs(platform, DEVICE_TYPE_ALL, null, nd);
                if (rc != CL_SUCCESS || nd.get(0) <= 0) {
                    // CL_DEVICE_NOT_FOUND (a platform with no devices, e.g. rusticl without
                    // RUSTICL_ENABLE) or a platform that fails: skip it, the others still work.
                    continue;
                }
                PointerBuffer devices = stack.mallocPointer(nd.get(0));
                if (clGetDeviceIDs(platform, DEVICE_TYPE_ALL, devices, (IntBuffer) null) != CL_SUCCESS) {
                    continue;
                }
                for (int d = 0; d < devices.capacity(); d++) {
                    try {
                        out.add(describe(out.size(), platform, platformName, devices.get(d)));
                    } catch (ClException e) {
                        // A device that cannot even describe itself is of no use; keep the others.
                    }
                }
            }
        }
        return out;
    }

    /**
     * Picks a device: null or blank gives the first GPU, else the first device (preferring devices
     * that meet {@link #unmetRequirements the minimum}); a number is an index
     * into {@link #list()}; anything else matches a case-insensitive substring of the device or platform name.
     */
    public static ClDevice select(String spec) {
        List<ClDevice> all = list();
        if (all.isEmpty()) {
            throw new ClException("clGetPlatformIDs", -1001,
                    "no OpenCL platform found: install a driver (on Debian: apt-get install pocl-opencl-icd)");
        }
        if (spec == null || spec.isBlank()) {
            // The first GPU that meets the minimum, else the first device that does, else the first.
            return all.stream().filter(d -> d.isGpu() && d.unmetRequirements().isEmpty()).findFirst()
                    .or(() -> all.stream().filter(d -> d.unmetRequirements().isEmpty()).findFirst())
                    .orElse(all.get(0));
        }
        String s = spec.trim();
        if (s.chars().allMatch(Character::isDigit)) {
            int i = Integer.parseInt(s);
            if (i >= all.size()) {
                throw new IllegalArgumentException("--device " + s + ": no such device (there are " + all.size()
                        + "; see 'clstyle devices')");
            }
            return all.get(i);
        }
        String needle = s.toLowerCase(Locale.ROOT);
        return all.stream()
                .filter(d -> (d.name + " " + d.platformName + " " + d.vendor).toLowerCase(Locale.ROOT).contains(needle))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("--device " + s
                        + ": no device name contains that text (see 'clstyle devices')"));
    }

    /**
     * {@code --device} as a comma list ("0,1": several devices sharing a loss's tiles), each entry as
     * {@link #select}; a spec without a comma (null included) gives one device. An empty entry is an
     * IllegalArgumentException naming the list.
     */
    public static List<ClDevice> selectList(String spec) {
        if (spec == null || !spec.contains(",")) {
            return List.of(select(spec));
        }
        List<ClDevice> out = new ArrayList<>();
        for (String part : spec.split(",", -1)) {
            if (part.isBlank()) {
                throw new IllegalArgumentException("--device " + spec + ": an empty entry in the list");
            }
            out.add(select(part.trim()));
        }
        return out;
    }

    /** Loads the OpenCL library once, turning a missing ICD loader into a readable error. */
    static void ensureLoaded() {
        // The ICD loader's soname is libOpenCL.so.1; the unversioned libOpenCL.so that LWJGL asks for by
        // default comes only with the development package, which users (and fresh machines) lack.
        if (Platform.get() == Platform.LINUX && Configuration.OPENCL_LIBRARY_NAME.get() == null) {
            Configuration.OPENCL_LIBRARY_NAME.set("libOpenCL.so.1");
        }
        try {
            CL.getFunctionProvider();
        } catch (Throwable t) {
            throw new ClException("load OpenCL", -1001,
                    "the OpenCL library (libOpenCL) could not be loaded: " + t.getMessage()
                            + "; install an ICD loader and a driver (on Debian: apt-get install pocl-opencl-icd)");
        }
    }

    private static ClDevice describe(int index, long platform, String platformName, long device) {
        long type = deviceLong(device, CL_DEVICE_TYPE);
        String ext = deviceString(device, CL_DEVICE_EXTENSIONS);
        return new ClDevice(
                index, platform, device, platformName,
                deviceString(device, CL_DEVICE_NAME),
                deviceString(device, CL_DEVICE_VENDOR),
                typeName(type),
                deviceString(device, CL_DRIVER_VERSION),
                deviceString(device, CL_DEVICE_VERSION),
                optionalString(device, 0x103D /* CL_DEVICE_OPENCL_C_VERSION, OpenCL 1.1+ */),
                (int) deviceInt(device, CL_DEVICE_MAX_COMPUTE_UNITS),
                deviceLong(device, CL_DEVICE_GLOBAL_MEM_SIZE),
                deviceLong(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE),
                devicePointer(device, CL_DEVICE_MAX_WORK_GROUP_SIZE),
                deviceLong(device, CL_DEVICE_LOCAL_MEM_SIZE),
                ext.contains("cl_khr_fp16"),
                ext.contains("cl_khr_fp64"),
                ext,
                workItemSizes(device),
                deviceInt(device, CL_DEVICE_AVAILABLE) != 0,
                deviceInt(device, CL_DEVICE_COMPILER_AVAILABLE) != 0);
    }

    /** CL_DEVICE_MAX_WORK_ITEM_SIZES: one size_t per dimension. */
    private static long[] workItemSizes(long device) {
        int dims = (int) deviceInt(device, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS);
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer buf = stack.callocPointer(Math.max(1, dims));
            ClError.check(clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_ITEM_SIZES, buf, null), "clGetDeviceInfo");
            long[] out = new long[dims];
            for (int i = 0; i < dims; i++) {
                out[i] = buf.get(i);
            }
            return out;
        }
    }

    private static String typeName(long type) {
        List<String> parts = new ArrayList<>();
        if ((type & CL_DEVICE_TYPE_GPU) != 0) parts.add("GPU");
        if ((type & CL_DEVICE_TYPE_CPU) != 0) parts.add("CPU");
        if ((type & CL_DEVICE_TYPE_ACCELERATOR) != 0) parts.add("ACCELERATOR");
        if ((type & 0x10 /* CUSTOM */) != 0) parts.add("CUSTOM");
        return parts.isEmpty() ? "OTHER" : String.join("+", parts);
    }

    static String platformString(long platform, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer size = stack.mallocPointer(1);
            ClError.check(clGetPlatformInfo(platform, param, (ByteBuffer) null, size), "clGetPlatformInfo");
            ByteBuffer buf = MemoryUtil.memAlloc((int) size.get(0));
            try {
                ClError.check(clGetPlatformInfo(platform, param, buf, null), "clGetPlatformInfo");
                return MemoryUtil.memUTF8(buf, Math.max(0, (int) size.get(0) - 1));
            } finally {
                MemoryUtil.memFree(buf);
            }
        }
    }

    /** A string query that older devices may not know: "" when the query fails. */
    private static String optionalString(long device, int param) {
        try {
            return deviceString(device, param);
        } catch (ClException e) {
            return "";
        }
    }

    static String deviceString(long device, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer size = stack.mallocPointer(1);
            ClError.check(clGetDeviceInfo(device, param, (ByteBuffer) null, size), "clGetDeviceInfo");
            ByteBuffer buf = MemoryUtil.memAlloc((int) Math.max(1, size.get(0)));
            try {
                ClError.check(clGetDeviceInfo(device, param, buf, null), "clGetDeviceInfo");
                return MemoryUtil.memUTF8(buf, Math.max(0, (int) size.get(0) - 1));
            } finally {
                MemoryUtil.memFree(buf);
            }
        }
    }

    private static long deviceLong(long device, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            ByteBuffer buf = stack.calloc(8);
            ClError.check(clGetDeviceInfo(device, param, buf, null), "clGetDeviceInfo");
            return buf.getLong(0);
        }
    }

    private static long deviceInt(long device, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            ByteBuffer buf = stack.calloc(4);
            ClError.check(clGetDeviceInfo(device, param, buf, null), "clGetDeviceInfo");
            return Integer.toUnsignedLong(buf.getInt(0));
        }
    }

    private static long devicePointer(long device, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer buf = stack.callocPointer(1);
            ClError.check(clGetDeviceInfo(device, param, buf, null), "clGetDeviceInfo");
            return buf.get(0);
        }
    }
}
