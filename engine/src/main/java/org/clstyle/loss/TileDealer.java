package org.clstyle.loss;

import java.util.Arrays;
import java.util.Comparator;
import java.util.Locale;
import java.util.stream.IntStream;

/**
 * Which device evaluates which tile when several share a tiled loss ({@link ShardedTiledLoss}): the
 * tiles dealt so that the last device finishes as early as possible, each device's time predicted as
 * the area of its tiles' regions over its speed (pixels per second).
 *
 * <p>{@link #deal} is the longest-processing-time greedy: tiles by region area, largest first (ties:
 * lower index first), each to the device that would finish it first counting what it already holds
 * (ties: lower device index). It is a pure function of its arguments: the same areas and speeds give
 * the same owners. A device much slower than the others may get no tile; with more devices than tiles
 * some get none.
 *
 * <p>The speeds can be forced instead of measured with the system property {@value #SPEEDS_PROPERTY}
 * (a comma list, one positive number per device, e.g. {@code -Dclstyle.device.speeds=1,3}; relative
 * values suffice), for tests and to pin the split.
 */
public final class TileDealer {
    /** The system property that forces the devices' relative speeds: a comma list, one positive number per device. */
    public static final String SPEEDS_PROPERTY = "clstyle.device.speeds";

    private TileDealer() {}

    /**
     * The owner (device index) of each tile: {@code areas[i]} is tile i's region area (its cost, >= 0),
     * {@code speeds[d]} device d's speed (> 0, finite, any unit).
     */
    public static int[] deal(long[] areas, double[] speeds) {
        if (speeds.length == 0) {
            throw new IllegalArgumentException("TileDealer.deal: no device");
        }
        for (double s : speeds) {
            if (!(s > 0) || !Double.isFinite(s)) {
                throw new IllegalArgumentException("TileDealer.deal: speeds must be positive and finite, got " + Arrays.toString(speeds));
            }
        }
        for (long a : areas) {
            if (a < 0) {
                throw new IllegalArgumentException("TileDealer.deal: negative tile area in " + Arrays.toString(areas));
            }
        }
        Integer[] order = IntStream.range(0, areas.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.<Integer>comparingLong(i -> -areas[i]).thenComparingInt(i -> i));
        long[] load = new long[speeds.length];
        int[] owner = new int[areas.length];
        for (int i : order) {
            int best = 0;
            double bestFinish = Double.POSITIVE_INFINITY;
            for (int d = 0; d < speeds.length; d++) {
                double finish = (load[d] + areas[i]) / speeds[d];
                if (finish < bestFinish) {
                    best = d;
                    bestFinish = finish;
                }
            }
            owner[i] = best;
            load[best] += areas[i];
        }
        return owner;
    }

    /** The predicted time of the slowest device for this deal, in the speeds' unit: max over devices of area / speed. */
    public static double makespan(long[] areas, double[] speeds, int[] owner) {
        long[] load = new long[speeds.length];
        for (int i = 0; i < areas.length; i++) {
            load[owner[i]] += areas[i];
        }
        double worst = 0;
        for (int d = 0; d < speeds.length; d++) {
            worst = Math.max(worst, load[d] / speeds[d]);
        }
        return worst;
    }

    /**
     * {@code text} (a comma list of positive numbers) as the speeds of {@code devices} devices; an
     * IllegalArgumentException with one line naming {@value #SPEEDS_PROPERTY} for anything else.
     */
    public static double[] parseSpeeds(String text, int devices) {
        String[] parts = text.split(",", -1);
        String what = "-D" + SPEEDS_PROPERTY + "=" + text;
        if (parts.length != devices) {
            throw new IllegalArgumentException(what + ": " + parts.length + " speed" + (parts.length == 1 ? "" : "s") + " for "
                    + devices + " device" + (devices == 1 ? "" : "s") + " (give one positive number per --device entry, e.g. 1,3)");
        }
        double[] speeds = new double[devices];
        for (int d = 0; d < devices; d++) {
            String p = parts[d].trim();
            double s;
            try {
                s = Double.parseDouble(p);
            } catch (NumberFormatException e) {
                s = Double.NaN;
            }
            if (p.isEmpty() || !(s > 0) || !Double.isFinite(s)) {
                throw new IllegalArgumentException(what + ": '" + p + "' is not a positive number (give one per --device entry, e.g. 1,3)");
            }
            speeds[d] = s;
        }
        return speeds;
    }

    /** The speeds forced by {@value #SPEEDS_PROPERTY} for {@code devices} devices, or null when it is not set. */
    public static double[] forcedSpeeds(int devices) {
        String text = System.getProperty(SPEEDS_PROPERTY);
        return text == null ? null : parseSpeeds(text, devices);
    }

    /**
     * One line: per device its tile count, its tiles' indices (up to 32 tiles in all), their share of the
     * total region area and the device's speed relative to the fastest, e.g.
     * "device 0: 3 tiles [0 1 3] (75% of the area), speed 1, device 1: 1 tile [2] (25% of the area), speed 0.333".
     */
    public static String describe(long[] areas, double[] speeds, int[] owner) {
        long total = 0;
        long[] load = new long[speeds.length];
        int[] count = new int[speeds.length];
        for (int i = 0; i < areas.length; i++) {
            load[owner[i]] += areas[i];
            count[owner[i]]++;
            total += areas[i];
        }
        double fastest = Arrays.stream(speeds).max().orElse(1);
        StringBuilder b = new StringBuilder();
        for (int d = 0; d < speeds.length; d++) {
            if (d > 0) {
                b.append(", ");
            }
            StringBuilder tiles = new StringBuilder();
            for (int i = 0; i < owner.length; i++) {
                if (owner[i] == d) {
                    tiles.append(tiles.length() == 0 ? "" : " ").append(i);
                }
            }
            String speed = String.format(Locale.ROOT, "%.3g", speeds[d] / fastest);
            if (speed.contains(".") && !speed.contains("e")) {
                speed = speed.replaceAll("0+$", "").replaceAll("\\.$", "");
            }
            b.append(String.format(Locale.ROOT, "device %d: %d tile%s%s (%.0f%% of the area), speed %s", d, count[d],
                    count[d] == 1 ? "" : "s", count[d] == 0 || owner.length > 32 ? "" : " [" + tiles + "]",
                    total == 0 ? 0.0 : 100.0 * load[d] / total, speed));
        }
        return b.toString();
    }
}
