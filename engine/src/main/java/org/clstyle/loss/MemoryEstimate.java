package org.clstyle.loss;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.clstyle.nn.Layer;
import org.clstyle.nn.Network;
import org.clstyle.nn.Node;
import org.clstyle.ops.Conv3x3;

/**
 * Device bytes a loss evaluation takes, from buffer sizes alone (no device): what {@code --max-device-memory}
 * compares with its budget before anything is allocated. Per network plan of an h x w input:
 * <ul>
 * <li>the activations {@code DeviceNetwork} keeps (every ReLU and pool output, and conv outputs that are
 *     read themselves: a conv followed by a ReLU runs fused),</li>
 * <li>the backward's scratch: one buffer of each activation shape (it writes most gradients over dead
 *     activations; this is the upper end of what it adds),</li>
 * <li>the convolution's workspace: the largest zero-padded band of a convolution input (Conv3x3's direct
 *     path pads in bands of rows within a cap, {@link Conv3x3#directScratchFloats}; the whole padded input
 *     when smaller) plus the Winograd chunk buffers (capped, counted as {@link #WINOGRAD_BYTES}),</li>
 * <li>the weights: raw plus the packed copies (forward and backward) of every conv up to the deepest layer
 *     ({@link Conv3x3#weightFloats}),</li>
 * </ul>
 * plus the loss's own buffers: the [3, h, w] network input and its gradient (untiled) or four tile-sized
 * [3, h, w] buffers and one core copy and gradient for the largest layer read (tiled), content targets (one full-size copy of
 * every content layer), and the Grams. The caller's image and gradient ([3, H, W] each) are counted
 * too, and the content image's upload while the targets are made; an optimiser's state is the caller's to add. Checked against the measured peak in {@code MemoryEstimateTest}.
 */
public final class MemoryEstimate {
    /** Conv3x3's Winograd V and M chunk buffers together (WINO_BYTES-capped), counted once. */
    static final long WINOGRAD_BYTES = 64L << 20;

    private MemoryEstimate() {}

    /** Bytes of the untiled loss of an h x w image reading {@code taps} (content layers among them). */
    public static long untiled(Network network, List<String> taps, List<String> contentLayers, List<String> styleLayers,
            int h, int w) {
        return untiled(network, taps, contentLayers, styleLayers, h, w, List.of());
    }

    /**
     * {@link #untiled} when style images of other sizes ({@code styleHW}, [h, w] each) run through the same
     * network: each only as deep as the style layers, so the network's plan is the larger of the image's (every
     * tap) and each style image's (style layers, plus its upload).
     */
    public static long untiled(Network network, List<String> taps, List<String> contentLayers, List<String> styleLayers,
            int h, int w, List<int[]> styleHW) {
        if (taps.isEmpty()) {
            return 4L * 3 * h * w * 4;
        }
        long plan = networkFloats(network, taps, h, w);
        if (!styleLayers.isEmpty()) {
            for (int[] s : styleHW) {
                plan = Math.max(plan, networkFloats(network, styleLayers, s[0], s[1]) + 3L * s[0] * s[1]);
            }
        }
        long floats = plan + 2L * 3 * h * w;
        return 4 * (floats + fixedFloats(network, taps, contentLayers, styleLayers, h, w)) + WINOGRAD_BYTES;
    }

    /** Bytes of the tiled loss of an h x w image on {@code grid}. */
    public static long tiled(Network network, List<String> taps, List<String> contentLayers, List<String> styleLayers,
            TileGrid grid) {
        int[] r = grid.largestRegion();
        return tiled(network, taps, contentLayers, styleLayers, grid.height(), grid.width(), r[0], r[1]);
    }

    /** Bytes of the tiled loss of an h x w image whose largest tile region (of every grid it uses) is rh x rw. */
    public static long tiled(Network network, List<String> taps, List<String> contentLayers, List<String> styleLayers,
            int h, int w, int rh, int rw) {
        if (taps.isEmpty()) {
            return 4L * 3 * h * w * 4;
        }
        long floats = networkFloats(network, taps, rh, rw) + 4L * 3 * rh * rw + 2 * largestLayer(network, taps, rh, rw);
        return 4 * (floats + fixedFloats(network, taps, contentLayers, styleLayers, h, w)) + WINOGRAD_BYTES;
    }

    /**
     * Bytes of the tiled loss of an h x w image whose tiles run only to the pool {@code wholeAfter}, the later
     * layers on the whole image ({@link TiledLossFunction}'s wholeAfter): the tiles' network to that pool for
     * the largest region rh x rw (of every grid), the network after the pool for the largest whole output it
     * runs on (the image's, or a style image's when style layers lie after the pool; each [h, w] in
     * {@code styleHW}), that output and its gradient, and the fixed buffers as {@link #tiled}. Each of the
     * two networks has its own convolution workspace.
     */
    public static long whole(Network network, List<String> taps, List<String> contentLayers, List<String> styleLayers,
            int h, int w, int rh, int rw, List<int[]> styleHW, String wholeAfter) {
        List<String> tileLayers = TiledLossFunction.tileLayers(network, taps, wholeAfter);
        List<String> deep = TiledLossFunction.wholeLayers(network, taps, wholeAfter);
        List<String> deepStyle = TiledLossFunction.wholeLayers(network, styleLayers, wholeAfter);
        long floats = networkFloats(network, tileLayers, rh, rw) + 4L * 3 * rh * rw + 2 * largestLayer(network, tileLayers, rh, rw);
        Network tail = network.after(wholeAfter);
        int[] b = network.shapes(h, w, wholeAfter).get(wholeAfter);
        long tailPlan = deep.isEmpty() ? 0 : networkFloats(tail, deep, b[1], b[2]);
        long boundary = (long) b[0] * b[1] * b[2];
        for (int[] st : deepStyle.isEmpty() ? List.<int[]>of() : styleHW) {
            int[] sb = network.shapes(st[0], st[1], wholeAfter).get(wholeAfter);
            tailPlan = Math.max(tailPlan, networkFloats(tail, deepStyle, sb[1], sb[2]));
            boundary = Math.max(boundary, (long) sb[0] * sb[1] * sb[2]);
        }
        floats += tailPlan + 2 * boundary;
        return 4 * (floats + fixedFloats(network, taps, contentLayers, styleLayers, h, w)) + 2 * WINOGRAD_BYTES;
    }

    /**
     * Floats of the largest of {@code layers} for an rh x rw region: the size of the tiled loss's one core copy
     * and one core gradient, which the layers share (a core is at most its region's layer).
     */
    private static long largestLayer(Network network, List<String> layers, int rh, int rw) {
        Map<String, int[]> shapes = network.shapes(rh, rw, network.deepest(layers));
        long most = 0;
        for (String l : layers) {
            int[] s = shapes.get(l);
            most = Math.max(most, (long) s[0] * s[1] * s[2]);
        }
        return most;
    }

    /**
     * Bytes that keeping every tile's outputs after {@code keepAfter} ({@link TiledLossFunction#keepAfter})
     * adds to {@link #tiled}: those outputs once per tile at its own region, less the one set
     * {@link #tiled} already counts for the largest region. 0 for null.
     */
    public static long kept(Network network, List<String> taps, TileGrid grid, String keepAfter) {
        if (keepAfter == null || taps.isEmpty()) {
            return 0;
        }
        long sum = 0, largest = 0;
        Map<List<Integer>, Long> bySize = new HashMap<>(); // the grid's tiles come in a few sizes
        for (TileGrid.Tile t : grid.tiles()) {
            long f = bySize.computeIfAbsent(List.of(t.h(), t.w()),
                    k -> outputFloats(network, taps, t.h(), t.w(), network.indexOf(keepAfter) + 1));
            sum += f;
            largest = Math.max(largest, f);
        }
        return 4 * (sum - largest);
    }

    /** Where a tiled loss may keep outputs or checkpoints: every pool before the deepest of {@code taps}. */
    public static List<String> poolsBeforeDeepest(Network network, List<String> taps) {
        List<String> out = new ArrayList<>();
        int end = network.indexOf(network.deepest(taps));
        for (int i = 0; i < end; i++) {
            if (network.nodes().get(i).layer() instanceof Layer.Pool2d) {
                out.add(network.nodes().get(i).name());
            }
        }
        return out;
    }

    /**
     * Bytes that running the network from checkpoints ({@link TiledLossFunction#checkpoint}) changes in
     * {@link #tiled} (negative: it saves): for the largest region, the shared buffers (per position in a
     * segment, the largest of the segments' outputs there) and two buffers for the gradient at a
     * segment's input, instead of every output; the backward's scratch of the largest segment (its
     * slots are shared by the segments) instead of one per shape of the whole network; plus every
     * tile's checkpoints (the boundaries' outputs).
     */
    public static long checkpointed(Network network, List<String> taps, TileGrid grid, List<String> bounds) {
        if (taps.isEmpty() || bounds.isEmpty()) {
            return 0;
        }
        int[] r = grid.largestRegion();
        String deepest = network.deepest(taps);
        int end = network.indexOf(deepest);
        Map<String, int[]> shapes = network.shapes(r[0], r[1], deepest);
        List<Node> nodes = network.nodes();
        List<Long> perPosition = new ArrayList<>();
        long all = 0, largestBoundary = 0;
        int start = 0, pos = 0;
        Map<List<Integer>, Long> distinct = new HashMap<>(), segmentShapes = new HashMap<>();
        long segmentScratch = 0;
        for (int i = 0; i <= end; i++) {
            Node n = nodes.get(i);
            boolean boundary = bounds.contains(n.name());
            boolean fused = fusedConv(nodes, i, end, taps);
            int[] s = shapes.get(n.name());
            long e = (long) s[0] * s[1] * s[2];
            if (!fused) {
                all += e;
                distinct.put(key(s), e);
                segmentShapes.put(key(s), e);
                if (boundary) {
                    largestBoundary = Math.max(largestBoundary, e);
                } else {
                    while (perPosition.size() <= pos) {
                        perPosition.add(0L);
                    }
                    perPosition.set(pos, Math.max(perPosition.get(pos), e));
                }
            }
            pos = i - start + 1;
            if (boundary || i == end) {
                segmentScratch = Math.max(segmentScratch, segmentShapes.values().stream().mapToLong(Long::longValue).sum());
                segmentShapes.clear();
            }
            if (boundary) {
                start = i + 1;
                pos = 0;
            }
        }
        long scratch = distinct.values().stream().mapToLong(Long::longValue).sum();
        long shared = 0;
        for (long e : perPosition) {
            shared += e;
        }
        long checkpointFloats = 0;
        Map<List<Integer>, Long> bySize = new HashMap<>(); // the grid's tiles come in a few sizes
        for (TileGrid.Tile t : grid.tiles()) {
            checkpointFloats += bySize.computeIfAbsent(List.of(t.h(), t.w()), k -> {
                Map<String, int[]> ts = network.shapes(t.h(), t.w(), deepest);
                long f = 0;
                for (String b : bounds) {
                    int[] s = ts.get(b);
                    f += (long) s[0] * s[1] * s[2];
                }
                return f;
            });
        }
        // The 5% margin networkFloats puts on the outputs applies to the shared buffers too.
        return 4 * ((shared + 2 * largestBoundary + checkpointFloats + segmentScratch) * 21 / 20 - (all + scratch) * 21 / 20);
    }

    /** Floats of the outputs DeviceNetwork keeps for nodes from index {@code from} to the deepest tap, for an h x w input. */
    static long outputFloats(Network network, Collection<String> taps, int h, int w, int from) {
        String deepest = network.deepest(taps);
        int end = network.indexOf(deepest);
        Map<String, int[]> shapes = network.shapes(h, w, deepest);
        List<Node> nodes = network.nodes();
        long floats = 0;
        for (int i = from; i <= end; i++) {
            Node n = nodes.get(i);
            boolean fused = fusedConv(nodes, i, end, taps);
            if (!fused) {
                int[] s = shapes.get(n.name());
                floats += (long) s[0] * s[1] * s[2];
            }
        }
        return floats;
    }

    /** Weights, Grams, content targets and the caller's image and gradient. */
    private static long fixedFloats(Network network, List<String> taps, List<String> contentLayers,
            List<String> styleLayers, int h, int w) {
        long floats = 3L * 3 * h * w; // the caller's image and gradient, and the content image uploaded while the targets are made
        String deepest = network.deepest(taps);
        int end = network.indexOf(deepest);
        for (int i = 0; i <= end; i++) {
            Layer l = network.nodes().get(i).layer();
            if (l instanceof Layer.Conv2d c) {
                floats += (c.kernel() == 3 ? Conv3x3.weightFloats(c.inChannels(), c.outChannels())
                        : 3L * c.outChannels() * c.inChannels() * c.kernel() * c.kernel()) + c.outChannels();
            }
        }
        Map<String, int[]> full = network.shapes(h, w, deepest);
        for (String l : contentLayers) {
            int[] s = full.get(l);
            floats += (long) s[0] * s[1] * s[2];
        }
        for (String l : styleLayers) {
            long c = network.channels(l);
            floats += 4 * c * c;
        }
        return floats;
    }

    /** Floats of one network plan (activations, backward scratch, conv workspace) for an h x w input. */
    static long networkFloats(Network network, Collection<String> taps, int h, int w) {
        String deepest = network.deepest(taps);
        int end = network.indexOf(deepest);
        Map<String, int[]> shapes = network.shapes(h, w, deepest);
        List<Node> nodes = network.nodes();
        long floats = 0, workspace = 0;
        Map<List<Integer>, Long> distinct = new HashMap<>();
        int[] in = {network.inputChannels(), h, w};
        for (int i = 0; i <= end; i++) {
            Node n = nodes.get(i);
            int[] s = shapes.get(n.name());
            boolean fused = fusedConv(nodes, i, end, taps);
            if (n.layer() instanceof Layer.Conv2d c) {
                workspace = Math.max(workspace, c.kernel() == 3 ? Conv3x3.directScratchFloats(in[0], s[0], in[1], in[2])
                        : (long) Math.max(in[0], s[0]) * (in[1] + 2) * (in[2] + 8));
            }
            if (!fused) {
                long e = (long) s[0] * s[1] * s[2];
                floats += e;
                distinct.put(key(s), e);
            }
            in = s;
        }
        for (long e : distinct.values()) {
            floats += e;
        }
        // 5% on top: the backward's scratch is one per shape on its usual path, but its exact count depends on
        // which activations are dead when (measured peaks stayed within 1-2% of the sum above at 4K tiles).
        return (floats + workspace) * 21 / 20;
    }

    /**
     * Whether node i (of a plan reaching node end) is a convolution that runs fused with the ReLU after it
     * and so has no output buffer: as DeviceNetwork decides it (not a tap itself).
     */
    private static boolean fusedConv(List<Node> nodes, int i, int end, Collection<String> taps) {
        return nodes.get(i).layer() instanceof Layer.Conv2d && i + 1 <= end
                && nodes.get(i + 1).layer() instanceof Layer.Relu && !taps.contains(nodes.get(i).name());
    }

    private static List<Integer> key(int[] s) {
        List<Integer> k = new ArrayList<>();
        for (int d : s) {
            k.add(d);
        }
        return k;
    }

    /** "1.5 GiB"-style text for a byte count. */
    public static String format(long bytes) {
        if (bytes >= 1L << 30) {
            return String.format(java.util.Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
        }
        return String.format(java.util.Locale.ROOT, "%.0f MiB", bytes / (double) (1L << 20));
    }

    /**
     * A size with an optional K, M or G suffix (powers of 1024; "8G", "512M", "1048576") in bytes; -1 for
     * anything else (not a positive whole number, an unknown suffix, or more than 2^62).
     */
    public static long parseSize(String s) {
        if (s == null) {
            return -1;
        }
        String t = s.trim().toUpperCase(java.util.Locale.ROOT);
        if (t.endsWith("B") && t.length() > 1 && "KMG".indexOf(t.charAt(t.length() - 2)) >= 0) {
            t = t.substring(0, t.length() - 1); // 8GB, 512MB
        }
        long mul = 1;
        if (!t.isEmpty() && "KMG".indexOf(t.charAt(t.length() - 1)) >= 0) {
            mul = switch (t.charAt(t.length() - 1)) {
                case 'K' -> 1L << 10;
                case 'M' -> 1L << 20;
                default -> 1L << 30;
            };
            t = t.substring(0, t.length() - 1);
        }
        if (t.isEmpty() || !t.chars().allMatch(Character::isDigit) || t.length() > 12) {
            return -1;
        }
        long v = Long.parseLong(t);
        if (v <= 0 || v > (1L << 62) / mul) {
            return -1;
        }
        return v * mul;
    }
}
