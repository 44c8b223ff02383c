package org.clstyle.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link TileDealer}: the longest-processing-time deal on given speeds (equal, 1:3, one device 1000x
 * slower, more devices than tiles), checked against the owners worked out by hand and against the best
 * deal found by trying every assignment of small grids; the speeds' parsing refuses bad lists.
 */
class TileDealerTest {
    private static long[] load(long[] areas, int devices, int[] owner) {
        long[] l = new long[devices];
        for (int i = 0; i < areas.length; i++) {
            l[owner[i]] += areas[i];
        }
        return l;
    }

    @Test
    void equalSpeedsAndEqualTilesDealInTurn() {
        long[] areas = {100, 100, 100, 100, 100, 100};
        assertArrayEquals(new int[] {0, 1, 0, 1, 0, 1}, TileDealer.deal(areas, new double[] {1, 1}));
        assertArrayEquals(new int[] {0, 1, 2, 0, 1, 2}, TileDealer.deal(areas, new double[] {5, 5, 5}));
    }

    @Test
    void equalSpeedsBalanceUnequalTiles() {
        // A 3x3 grid's regions: corners smallest, the centre largest (halos on every side).
        long[] areas = {36, 48, 36, 48, 64, 48, 36, 48, 36};
        int[] owner = TileDealer.deal(areas, new double[] {1, 1});
        // Largest first, each to the device that finishes it first (loads after): tile 4 -> 0 (64, 0); the 48s:
        // 1 -> 1 (64, 48), 3 -> 1 (64, 96), 5 -> 0 (112, 96), 7 -> 1 (112, 144); the 36s: 0 -> 0 (148, 144),
        // 2 -> 1 (148, 180), 6 -> 0 (184, 180), 8 -> 1 (184, 216).
        assertArrayEquals(new int[] {0, 1, 1, 1, 0, 0, 0, 1, 1}, owner);
        long[] l = load(areas, 2, owner);
        assertEquals(400, l[0] + l[1]);
        assertTrue(Math.abs(l[0] - l[1]) <= 36, Arrays.toString(l));
    }

    @Test
    void oneToThreeGivesTheFasterDeviceThreeQuarters() {
        long[] areas = new long[8];
        Arrays.fill(areas, 10);
        int[] owner = TileDealer.deal(areas, new double[] {1, 3});
        long[] l = load(areas, 2, owner);
        assertArrayEquals(new long[] {20, 60}, l, Arrays.toString(owner));
        // Tile 0 to device 1 (10/3 < 10), tile 1 too (20/3 < 10), tile 2 a tie (10 = 30/3): the lower device.
        assertArrayEquals(new int[] {1, 1, 0, 1, 1, 1, 0, 1}, owner);
        assertEquals(TileDealer.makespan(areas, new double[] {1, 3}, owner), 20.0, 1e-12);
    }

    @Test
    void aDeviceAThousandTimesSlowerGetsNothing() {
        long[] areas = {90, 120, 90, 120, 160, 120, 90, 120, 90};
        int[] owner = TileDealer.deal(areas, new double[] {1000, 1});
        assertArrayEquals(new int[9], owner);
        int[] reversed = TileDealer.deal(areas, new double[] {1, 1000});
        int[] ones = new int[9];
        Arrays.fill(ones, 1);
        assertArrayEquals(ones, reversed);
    }

    @Test
    void moreDevicesThanTilesLeavesSomeIdle() {
        long[] areas = {50, 80};
        assertArrayEquals(new int[] {1, 0}, TileDealer.deal(areas, new double[] {1, 1, 1, 1}));
        // The fastest devices take the tiles.
        assertArrayEquals(new int[] {3, 2}, TileDealer.deal(areas, new double[] {1, 1, 4, 4}));
        assertArrayEquals(new int[0], TileDealer.deal(new long[0], new double[] {1, 2}));
        assertArrayEquals(new int[] {0}, TileDealer.deal(new long[] {7}, new double[] {1}));
    }

    @Test
    void withinFourThirdsOfTheBestDealAndDeterministic() {
        // LPT's bound: makespan <= (4/3 - 1/(3m)) of the optimum for equal speeds; for uniform machines
        // it stays within 2. Exhaustive optimum on small random grids.
        SplittableRandom rnd = new SplittableRandom(3);
        for (int round = 0; round < 200; round++) {
            int n = 1 + rnd.nextInt(7), m = 1 + rnd.nextInt(3);
            long[] areas = new long[n];
            for (int i = 0; i < n; i++) {
                areas[i] = 1 + rnd.nextInt(100);
            }
            double[] speeds = new double[m];
            boolean equal = rnd.nextBoolean();
            for (int d = 0; d < m; d++) {
                speeds[d] = equal ? 1 : 0.1 + rnd.nextDouble() * 3;
            }
            int[] owner = TileDealer.deal(areas, speeds);
            assertArrayEquals(owner, TileDealer.deal(areas.clone(), speeds.clone()), "deterministic");
            double best = Double.POSITIVE_INFINITY;
            int[] a = new int[n];
            for (int code = 0; code < Math.pow(m, n); code++) {
                int c = code;
                for (int i = 0; i < n; i++) {
                    a[i] = c % m;
                    c /= m;
                }
                best = Math.min(best, TileDealer.makespan(areas, speeds, a));
            }
            double got = TileDealer.makespan(areas, speeds, owner);
            double bound = equal ? 4.0 / 3 - 1.0 / (3 * m) : 2;
            assertTrue(got <= best * bound + 1e-9, Arrays.toString(areas) + " " + Arrays.toString(speeds) + ": " + got + " vs best " + best);
        }
    }

    @Test
    void parsesSpeedsAndRefusesBadLists() {
        assertArrayEquals(new double[] {1, 3}, TileDealer.parseSpeeds("1,3", 2));
        assertArrayEquals(new double[] {0.5, 2, 1e3}, TileDealer.parseSpeeds(" 0.5, 2 ,1e3", 3));
        for (String bad : new String[] {"1", "1,2,3", "1,0", "1,-2", "1,x", "1,", ",1", "1,NaN", "1,Infinity"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TileDealer.parseSpeeds(bad, 2), bad);
            assertTrue(e.getMessage().startsWith("-Dclstyle.device.speeds=" + bad + ": ") && !e.getMessage().contains("\n"),
                    e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> TileDealer.deal(new long[] {1}, new double[] {1, 0}));
        assertThrows(IllegalArgumentException.class, () -> TileDealer.deal(new long[] {1}, new double[0]));
    }

    @Test
    void describesTheSplit() {
        long[] areas = {10, 10, 10, 10};
        double[] speeds = {1, 3};
        int[] owner = TileDealer.deal(areas, speeds);
        assertEquals("device 0: 1 tile [2] (25% of the area), speed 0.333, device 1: 3 tiles [0 1 3] (75% of the area), speed 1",
                TileDealer.describe(areas, speeds, owner));
        assertEquals("device 0: 0 tiles (0% of the area), speed 1, device 1: 1 tile [0] (100% of the area), speed 1",
                TileDealer.describe(new long[] {5}, new double[] {1, 1}, new int[] {1}));
    }
}
