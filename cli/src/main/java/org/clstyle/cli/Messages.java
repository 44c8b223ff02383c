package org.clstyle.cli;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What error lines may echo: user-supplied values are bounded so that a 10 MB argument is not printed back. */
final class Messages {
    private Messages() {}

    /** Longest quoted value echoed in full. */
    static final int MAX_VALUE = 80;
    /** Longest error line. */
    static final int MAX_LINE = 400;

    private static final Pattern QUOTED = Pattern.compile("'([^']{" + (MAX_VALUE + 1) + ",})'");

    /** {@code s} itself when short, else its start and how long it was: "aaaa… (10485760 characters)". */
    static String value(String s) {
        if (s == null) {
            return "null";
        }
        if (s.length() <= MAX_VALUE) {
            return s;
        }
        return s.substring(0, MAX_VALUE - 20) + "… (" + s.length() + " characters)";
    }

    /** One line: newlines folded, long quoted values shortened, the whole capped at {@link #MAX_LINE}. */
    static String line(String s) {
        if (s == null) {
            return "";
        }
        String t = s.replace("\r\n", " ").replace('\n', ' ').replace('\r', ' ');
        Matcher m = QUOTED.matcher(t);
        StringBuilder b = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(b, Matcher.quoteReplacement("'" + value(m.group(1)) + "'"));
        }
        m.appendTail(b);
        t = b.toString();
        if (t.length() > MAX_LINE) {
            t = t.substring(0, MAX_LINE - 30) + "… (" + t.length() + " characters)";
        }
        return t;
    }
}
