package org.clstyle.weights;

import java.math.BigInteger;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A restricted unpickler for PyTorch state_dicts. It interprets the pickle opcodes into plain Java values and
 * never runs anything: the only globals it accepts are those a state_dict needs (OrderedDict, torch's tensor
 * rebuild functions, the storage types), and they are recognised by name, not called. Any other global
 * (os.system, builtins.eval, ...) is refused with one line before anything else happens.
 *
 * <p>Values: str -> String, bytes -> byte[], int -> Long or BigInteger, float -> Double, bool -> Boolean,
 * None -> null, tuple -> Tuple, list -> ArrayList, dict/OrderedDict -> LinkedHashMap, a rebuilt tensor -> TensorRef.
 */
final class PickleReader {
    /** Globals a state_dict may name; nothing else is accepted. */
    static final Set<String> ALLOWED = Set.of(
            "collections.OrderedDict",
            "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
            "torch.FloatStorage", "torch.HalfStorage", "torch.DoubleStorage", "torch.BFloat16Storage");

    record Global(String module, String name) {
        String qualified() {
            return module + "." + name;
        }
    }

    record Tuple(List<Object> items) {
        Object get(int i) {
            return items.get(i);
        }

        int size() {
            return items.size();
        }
    }

    /** A tensor view: storage (from the persistent loader), offset and strides in elements. */
    record TensorRef(Object storage, long offset, long[] size, long[] stride) {
    }

    interface PersistentLoader {
        Object load(Object pid) throws WeightsException;
    }

    private static final Object MARK = new Object();
    /** Bounds memory use on hostile input; a VGG state_dict needs a few hundred entries. */
    private static final int MAX_MEMO = 1 << 20;

    private final String label;
    private final ByteBuffer in;
    private final PersistentLoader persistent;
    private final ArrayList<Object> stack = new ArrayList<>();
    private final ArrayList<Integer> marks = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();

    PickleReader(String label, ByteBuffer in, PersistentLoader persistent) {
        this.label = label;
        this.in = in.order(ByteOrder.LITTLE_ENDIAN);
        this.persistent = persistent;
    }

    /** Reads one pickle from the buffer's position through its STOP opcode. */
    Object load() throws WeightsException {
        stack.clear();
        marks.clear();
        memo.clear();
        try {
            while (true) {
                int pos = in.position();
                int op = in.get() & 0xff;
                if (op == '.') {
                    Object result = pop();
                    if (!stack.isEmpty() || !marks.isEmpty()) {
                        throw corrupt("STOP with values left on the stack");
                    }
                    return result;
                }
                step(op, pos);
            }
        } catch (BufferUnderflowException | IndexOutOfBoundsException | IllegalArgumentException e) {
            throw new WeightsException(label + ": truncated or corrupt pickle at byte " + in.position());
        }
    }

    private void step(int op, int pos) throws WeightsException {
        switch (op) {
            case 0x80 -> { // PROTO
                int v = in.get() & 0xff;
                if (v > 5) {
                    throw corrupt("unknown pickle protocol " + v);
                }
            }
            case 0x95 -> in.getLong(); // FRAME: a length hint only
            case '(' -> marks.add(stack.size()); // MARK
            case '0' -> pop(); // POP
            case '1' -> popMark(); // POP_MARK
            case '2' -> push(peek()); // DUP
            case 'N' -> push(null);
            case 0x88 -> push(Boolean.TRUE);
            case 0x89 -> push(Boolean.FALSE);
            case 'J' -> push((long) in.getInt()); // BININT
            case 'K' -> push((long) (in.get() & 0xff)); // BININT1
            case 'M' -> push((long) (in.getShort() & 0xffff)); // BININT2
            case 0x8a -> push(longBytes(in.get() & 0xff)); // LONG1
            case 0x8b -> push(longBytes(length(in.getInt()))); // LONG4
            case 'I' -> { // INT (text): "01"/"00" are True/False in protocol 0
                String s = line();
                push(s.equals("01") ? Boolean.TRUE : s.equals("00") ? Boolean.FALSE : (Object) Long.parseLong(s));
            }
            case 'L' -> { // LONG (text)
                String s = line();
                push(small(new BigInteger(s.endsWith("L") ? s.substring(0, s.length() - 1) : s)));
            }
            case 'G' -> { // BINFLOAT is big-endian
                double d = in.order(ByteOrder.BIG_ENDIAN).getDouble();
                in.order(ByteOrder.LITTLE_ENDIAN);
                push(d);
            }
            case 'F' -> push(Double.parseDouble(line()));
            case 'X' -> push(utf8(length(in.getInt()))); // BINUNICODE
            case 0x8c -> push(utf8(in.get() & 0xff)); // SHORT_BINUNICODE
            case 0x8d -> push(utf8(length(in.getLong()))); // BINUNICODE8
            case 'T' -> push(latin1(length(in.getInt()))); // BINSTRING (Python 2 str)
            case 'U' -> push(latin1(in.get() & 0xff)); // SHORT_BINSTRING
            case 'S' -> push(unquote(line())); // STRING (text)
            case 'V' -> push(line()); // UNICODE (raw-unicode-escape; plain ASCII names suffice here)
            case 'B' -> push(bytes(length(in.getInt()))); // BINBYTES
            case 'C' -> push(bytes(in.get() & 0xff)); // SHORT_BINBYTES
            case 0x8e -> push(bytes(length(in.getLong()))); // BINBYTES8
            case ')' -> push(new Tuple(List.of()));
            case 't' -> push(new Tuple(popMark()));
            case 0x85 -> push(tuple(1));
            case 0x86 -> push(tuple(2));
            case 0x87 -> push(tuple(3));
            case ']' -> push(new ArrayList<>());
            case 'l' -> push(new ArrayList<>(popMark()));
            case 'a' -> { // APPEND
                Object v = pop();
                list(peek()).add(v);
            }
            case 'e' -> { // APPENDS
                List<Object> items = popMark();
                list(peek()).addAll(items);
            }
            case '}' -> push(new LinkedHashMap<>());
            case 'd' -> push(dictOf(popMark()));
            case 's' -> { // SETITEM
                Object v = pop(), k = pop();
                dict(peek()).put(k, v);
            }
            case 'u' -> { // SETITEMS
                List<Object> kv = popMark();
                if (kv.size() % 2 != 0) {
                    throw corrupt("SETITEMS with an odd number of values");
                }
                Map<Object, Object> d = dict(peek());
                for (int i = 0; i < kv.size(); i += 2) {
                    d.put(kv.get(i), kv.get(i + 1));
                }
            }
            case 'p' -> memoPut(Long.parseLong(line())); // PUT
            case 'q' -> memoPut(in.get() & 0xff); // BINPUT
            case 'r' -> memoPut(in.getInt() & 0xffffffffL); // LONG_BINPUT
            case 0x94 -> memoPut(memo.size()); // MEMOIZE
            case 'g' -> memoGet(Long.parseLong(line())); // GET
            case 'h' -> memoGet(in.get() & 0xff); // BINGET
            case 'j' -> memoGet(in.getInt() & 0xffffffffL); // LONG_BINGET
            case 'c' -> push(global(line(), line())); // GLOBAL
            case 0x93 -> { // STACK_GLOBAL
                Object name = pop(), module = pop();
                if (!(module instanceof String m) || !(name instanceof String n)) {
                    throw corrupt("STACK_GLOBAL without two strings");
                }
                push(global(m, n));
            }
            case 'R' -> { // REDUCE
                Object args = pop(), fn = pop();
                push(call(fn, args));
            }
            case 0x81 -> { // NEWOBJ
                Object args = pop(), cls = pop();
                push(call(cls, args));
            }
            case 'b' -> { // BUILD: only the OrderedDict's own attributes (state_dict._metadata) come this way
                pop();
                Object target = peek();
                if (!(target instanceof Map) && !(target instanceof TensorRef)) {
                    throw corrupt("BUILD on " + describe(target));
                }
            }
            case 'Q' -> push(persistent.load(pop())); // BINPERSID
            case 'P' -> push(persistent.load(line())); // PERSID
            case 'i' -> { // INST: module and class inline; never allowed
                String m = line(), n = line();
                throw refused(m + "." + n);
            }
            case 'o' -> throw refused("an object built with the OBJ opcode"); // OBJ
            case 0x82, 0x83, 0x84 -> throw refused("an extension-registry global (EXT opcode)");
            default -> throw corrupt(String.format("unknown or unsupported pickle opcode 0x%02x at byte %d", op, pos));
        }
    }

    private Global global(String module, String name) throws WeightsException {
        String q = module + "." + name;
        if (!ALLOWED.contains(q)) {
            throw refused(q);
        }
        return new Global(module, name);
    }

    private WeightsException refused(String what) {
        return new WeightsException(label + ": refused: its pickle asks for " + what
                + ", which a VGG state_dict never needs; nothing in the file was run");
    }

    private WeightsException corrupt(String what) {
        return new WeightsException(label + ": corrupt pickle (" + what + ")");
    }

    private Object call(Object fn, Object args) throws WeightsException {
        if (!(fn instanceof Global g)) {
            throw corrupt("call of " + describe(fn) + ", not of a global");
        }
        if (!(args instanceof Tuple a)) {
            throw corrupt("arguments of " + g.qualified() + " are not a tuple");
        }
        switch (g.qualified()) {
            case "collections.OrderedDict" -> {
                Map<Object, Object> d = new LinkedHashMap<>();
                if (a.size() == 1 && a.get(0) instanceof List<?> pairs) {
                    for (Object p : pairs) {
                        if (!(p instanceof Tuple t) || t.size() != 2) {
                            throw corrupt("OrderedDict built from something other than pairs");
                        }
                        d.put(t.get(0), t.get(1));
                    }
                } else if (a.size() != 0) {
                    throw corrupt("OrderedDict called with " + a.size() + " arguments");
                }
                return d;
            }
            case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2" -> {
                if (a.size() < 4) {
                    throw corrupt(g.name() + " called with " + a.size() + " arguments");
                }
                long[] size = longs(a.get(2), "size");
                long[] stride = longs(a.get(3), "stride");
                if (size.length != stride.length) {
                    throw corrupt("tensor size " + size.length + "-D but stride " + stride.length + "-D");
                }
                return new TensorRef(a.get(0), toLong(a.get(1), "storage offset"), size, stride);
            }
            case "torch._utils._rebuild_parameter" -> {
                if (a.size() < 1 || !(a.get(0) instanceof TensorRef)) {
                    throw corrupt("_rebuild_parameter without a tensor");
                }
                return a.get(0);
            }
            default -> throw refused("a call of " + g.qualified());
        }
    }

    private long[] longs(Object o, String what) throws WeightsException {
        if (!(o instanceof Tuple t)) {
            throw corrupt("tensor " + what + " is not a tuple");
        }
        long[] v = new long[t.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = toLong(t.get(i), what);
        }
        return v;
    }

    private long toLong(Object o, String what) throws WeightsException {
        if (o instanceof Long l) {
            return l;
        }
        throw corrupt("tensor " + what + " is " + describe(o) + ", not an integer");
    }

    private static String describe(Object o) {
        return o == null ? "None" : o instanceof Global g ? g.qualified() : o.getClass().getSimpleName();
    }

    private void push(Object o) {
        stack.add(o);
    }

    private Object pop() throws WeightsException {
        int floor = marks.isEmpty() ? 0 : marks.get(marks.size() - 1);
        if (stack.size() <= floor) {
            throw corrupt("stack underflow");
        }
        return stack.remove(stack.size() - 1);
    }

    private Object peek() throws WeightsException {
        if (stack.isEmpty()) {
            throw corrupt("stack underflow");
        }
        return stack.get(stack.size() - 1);
    }

    private List<Object> popMark() throws WeightsException {
        if (marks.isEmpty()) {
            throw corrupt("no MARK on the stack");
        }
        int m = marks.remove(marks.size() - 1);
        List<Object> items = new ArrayList<>(stack.subList(m, stack.size()));
        stack.subList(m, stack.size()).clear();
        return items;
    }

    private Tuple tuple(int n) throws WeightsException {
        Object[] v = new Object[n];
        for (int i = n - 1; i >= 0; i--) {
            v[i] = pop();
        }
        return new Tuple(java.util.Arrays.asList(v));
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object o) throws WeightsException {
        if (o instanceof List<?> l) {
            return (List<Object>) l;
        }
        throw corrupt("APPEND to " + describe(o));
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> dict(Object o) throws WeightsException {
        if (o instanceof Map<?, ?> m) {
            return (Map<Object, Object>) m;
        }
        throw corrupt("SETITEM on " + describe(o));
    }

    private Map<Object, Object> dictOf(List<Object> kv) throws WeightsException {
        if (kv.size() % 2 != 0) {
            throw corrupt("DICT with an odd number of values");
        }
        Map<Object, Object> d = new LinkedHashMap<>();
        for (int i = 0; i < kv.size(); i += 2) {
            d.put(kv.get(i), kv.get(i + 1));
        }
        return d;
    }

    private void memoPut(long key) throws WeightsException {
        if (memo.size() >= MAX_MEMO) {
            throw corrupt("more than " + MAX_MEMO + " memo entries");
        }
        memo.put(key, peek());
    }

    private void memoGet(long key) throws WeightsException {
        if (!memo.containsKey(key)) {
            throw corrupt("memo key " + key + " read before it was written");
        }
        push(memo.get(key));
    }

    private int length(long n) throws WeightsException {
        if (n < 0 || n > in.remaining()) {
            throw new WeightsException(label + ": truncated or corrupt pickle (a " + n + "-byte value with "
                    + in.remaining() + " bytes left)");
        }
        return (int) n;
    }

    private byte[] bytes(int n) throws WeightsException {
        byte[] b = new byte[length(n)];
        in.get(b);
        return b;
    }

    private String utf8(int n) throws WeightsException {
        return new String(bytes(n), StandardCharsets.UTF_8);
    }

    private String latin1(int n) throws WeightsException {
        return new String(bytes(n), StandardCharsets.ISO_8859_1);
    }

    private Object longBytes(int n) throws WeightsException {
        byte[] le = bytes(n);
        if (n == 0) {
            return 0L;
        }
        byte[] be = new byte[n];
        for (int i = 0; i < n; i++) {
            be[i] = le[n - 1 - i];
        }
        return small(new BigInteger(be));
    }

    private static Object small(BigInteger v) {
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    /** A text-protocol argument: bytes up to the next newline (bounded, so garbage cannot run away). */
    private String line() throws WeightsException {
        StringBuilder b = new StringBuilder();
        while (true) {
            byte c = in.get();
            if (c == '\n') {
                return b.toString();
            }
            if (b.length() > 4096) {
                throw corrupt("a text argument longer than 4096 bytes");
            }
            b.append((char) (c & 0xff));
        }
    }

    private static String unquote(String s) {
        if (s.length() >= 2 && (s.charAt(0) == '\'' || s.charAt(0) == '"') && s.charAt(s.length() - 1) == s.charAt(0)) {
            return s.substring(1, s.length() - 1).replace("\\'", "'").replace("\\\\", "\\");
        }
        throw new IllegalArgumentException("unquoted STRING");
    }
}
