package org.clstyle.ops;

import java.util.Arrays;
import org.clstyle.cl.ClBuffer;

/** Shape checks shared by Upsample and AvgPool. */
final class Resample {
    private Resample() {}

    /** Checks that fine [N, C, H, W] and coarse have the shapes of factor r; returns fine's shape. */
    static int[] check(String who, ClBuffer fine, ClBuffer coarse, int r, boolean up) {
        int[] s = fine.shape();
        if (s.length != 4) {
            throw new IllegalArgumentException(who + ": expected [N, C, H, W] but got " + fine);
        }
        if (r < 1) {
            throw new IllegalArgumentException(who + ": factor must be at least 1 but is " + r);
        }
        int[] expected = up ? new int[] {s[0], s[1], s[2] * r, s[3] * r} : new int[] {s[0], s[1], s[2] / r, s[3] / r};
        if (!up && (s[2] < r || s[3] < r)) {
            throw new IllegalArgumentException(who + ": " + fine + " is smaller than one " + r + "x" + r + " window");
        }
        if (!Arrays.equals(expected, coarse.shape())) {
            throw new IllegalArgumentException(who + ": with factor " + r + " and " + fine + " the other tensor must be "
                    + Arrays.toString(expected) + " but is " + coarse);
        }
        return s;
    }
}
