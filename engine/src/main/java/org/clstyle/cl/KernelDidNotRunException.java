package org.clstyle.cl;

/**
 * A kernel that returned success but did not write its output: an OpenCL runtime that silently skips
 * kernels (seen with a simulator plugin that aborts on an instruction it does not know, and possible
 * with a broken driver). Results computed on such a device are meaningless, so the run stops.
 */
public final class KernelDidNotRunException extends ClException {
    public KernelDidNotRunException(String what, long unwritten, long elements, ClDevice device) {
        super(what + " left " + unwritten + " of " + elements + " output elements unwritten on " + device.label()
                + ": this OpenCL runtime does not run clstyle's kernels correctly; run 'clstyle selftest --device "
                + device.index() + "' and report its output", what, -9999, null);
    }
}
