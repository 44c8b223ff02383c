package org.clstyle.nn;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A network as data: nodes in topological order (each reads the network input or earlier nodes), each
 * with a name a caller can ask for. Holds no device state; {@link DeviceNetwork} runs it.
 */
public final class Network {
    /** The name by which nodes refer to the network's input. */
    public static final String INPUT = "input";

    private final String name;
    private final int inputChannels;
    private final List<Node> nodes;
    private final Map<String, Integer> index = new HashMap<>();

    public Network(String name, int inputChannels, List<Node> nodes) {
        this.name = name;
        this.inputChannels = inputChannels;
        this.nodes = List.copyOf(nodes);
        for (int i = 0; i < this.nodes.size(); i++) {
            Node n = this.nodes.get(i);
            for (String in : n.inputs()) {
                if (!in.equals(INPUT) && !index.containsKey(in)) {
                    throw new IllegalArgumentException(name + ": node " + n.name() + " reads " + in
                            + ", which is not an earlier node");
                }
            }
            if (index.put(n.name(), i) != null) {
                throw new IllegalArgumentException(name + ": two nodes named " + n.name());
            }
        }
    }

    /** The network's name, e.g. vgg19. */
    public String name() {
        return name;
    }

    public int inputChannels() {
        return inputChannels;
    }

    public List<Node> nodes() {
        return nodes;
    }

    /** Every node name in forward order. */
    public List<String> names() {
        List<String> n = new ArrayList<>(nodes.size());
        for (Node node : nodes) {
            n.add(node.name());
        }
        return n;
    }

    /** Position of {@code node} in forward order, -1 if there is none of that name. */
    public int indexOf(String node) {
        Integer i = index.get(node);
        return i == null ? -1 : i;
    }

    public Node node(String name) {
        int i = indexOf(name);
        if (i < 0) {
            throw new IllegalArgumentException(unknownNodeMessage(name));
        }
        return nodes.get(i);
    }

    /** The deepest (last in forward order) of {@code names}, all of which must be nodes. */
    public String deepest(Collection<String> names) {
        String best = null;
        for (String n : names) {
            if (indexOf(n) < 0) {
                throw new IllegalArgumentException(unknownNodeMessage(n));
            }
            if (best == null || indexOf(n) > indexOf(best)) {
                best = n;
            }
        }
        return best;
    }

    /** One line naming the unknown node and listing the valid names of this network. */
    public String unknownNodeMessage(String node) {
        return "unknown layer '" + node + "' for " + name + "; valid layers: " + String.join(", ", names());
    }

    /** Output channels of {@code node}, whatever the input size. */
    public int channels(String node) {
        int end = indexOf(node);
        if (end < 0) {
            throw new IllegalArgumentException(unknownNodeMessage(node));
        }
        int[] s = {inputChannels, 1 << 20, 1 << 20}; // channels do not depend on the size
        Map<String, int[]> out = new HashMap<>();
        out.put(INPUT, s);
        for (int i = 0; i <= end; i++) {
            Node n = nodes.get(i);
            s = n.layer().outputShape(inputShapes(n, out));
            out.put(n.name(), s);
        }
        return s[0];
    }

    /** Output shape [C, H, W] of every node up to {@code last} for an input of h x w, forward order. */
    public Map<String, int[]> shapes(int h, int w, String last) {
        Map<String, int[]> shapes = new LinkedHashMap<>();
        shapes.put(INPUT, new int[] {inputChannels, h, w});
        int end = last == null ? nodes.size() - 1 : indexOf(last);
        for (int i = 0; i <= end; i++) {
            Node n = nodes.get(i);
            int[] s = n.layer().outputShape(inputShapes(n, shapes));
            if (s[1] < 1 || s[2] < 1) {
                throw new IllegalArgumentException("image " + h + "x" + w + " is too small for " + n.name() + ": its output would be "
                        + s[1] + "x" + s[2]);
            }
            shapes.put(n.name(), s);
        }
        shapes.remove(INPUT);
        return shapes;
    }

    private static List<int[]> inputShapes(Node n, Map<String, int[]> shapes) {
        List<int[]> in = new ArrayList<>(n.inputs().size());
        for (String name : n.inputs()) {
            in.add(shapes.get(name));
        }
        return in;
    }

    /** Every parameter's full name (node.parameter) and shape, in forward order. */
    public Map<String, int[]> parameterShapes() {
        Map<String, int[]> p = new LinkedHashMap<>();
        for (Node n : nodes) {
            for (String name : n.layer().parameterNames()) {
                p.put(n.parameter(name), n.layer().parameterShape(name));
            }
        }
        return p;
    }

    /**
     * The part of this network after {@code node}: the later nodes, with {@code node}'s output as the
     * input (so that a caller can run them on that output assembled from elsewhere, e.g. a tiled loss's
     * tiles). The nodes keep their names, so the same {@link Parameters} serve both. Every later node
     * must read only {@code node} or later nodes.
     */
    public Network after(String node) {
        int at = indexOf(node);
        if (at < 0) {
            throw new IllegalArgumentException(unknownNodeMessage(node));
        }
        List<Node> tail = new ArrayList<>();
        for (int i = at + 1; i < nodes.size(); i++) {
            Node n = nodes.get(i);
            List<String> in = new ArrayList<>(n.inputs().size());
            for (String s : n.inputs()) {
                if (!s.equals(node) && (s.equals(INPUT) || indexOf(s) <= at)) {
                    throw new IllegalArgumentException(name + ": " + n.name() + " reads " + s + ", before " + node);
                }
                in.add(s.equals(node) ? INPUT : s);
            }
            tail.add(new Node(n.name(), n.layer(), in));
        }
        return new Network(name + " after " + node, channels(node), tail);
    }

    /** The number of trained parameters (the elements of every parameter tensor). */
    public long parameterCount() {
        long count = 0;
        for (int[] s : parameterShapes().values()) {
            long e = 1;
            for (int d : s) {
                e *= d;
            }
            count += e;
        }
        return count;
    }
}
