import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a Kafka broker makes of a TLS client's subject, with the JDK alone (no Kafka jars).
 *
 *   names FILE.pem   for each certificate in FILE: base64(UTF-8 of getSubjectX500Principal().getName())
 *   map              for each stdin line "base64(rules value) base64(subject)", one line:
 *                    "NAME base64(name)" | "NOMATCH" | "INVALID message" | "ERROR exception"
 *
 * The mapping follows Kafka's SslPrincipalMapper
 * (clients/src/main/java/org/apache/kafka/common/security/ssl/SslPrincipalMapper.java): the same
 * grammar regexes, the same split/parse steps, Matcher.matches() then String.replaceAll() with
 * out-of-range $n escaped the way Kafka escapes them, then Locale.ENGLISH case.
 */
public class PrincipalProbe {
    static final String RULE = "(DEFAULT)|RULE:((\\\\.|[^\\\\/])*)/((\\\\.|[^\\\\/])*)/([LU]?).*?|(.*?)";
    static final Pattern SPLITTER = Pattern.compile("\\s*(" + RULE + ")\\s*(,\\s*|$)");
    static final Pattern PARSER = Pattern.compile(RULE);
    static final Pattern BACK_REFERENCE = Pattern.compile("\\$(\\d+)");

    /** pattern == null: DEFAULT. */
    record Rule(Pattern pattern, String replacement, String caseChange) {}

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("names")) {
            names(args[1]);
        } else if (args.length == 1 && args[0].equals("map")) {
            map();
        } else {
            System.err.println("usage: PrincipalProbe names FILE.pem | map < cases");
            System.exit(2);
        }
    }

    static void names(String path) throws Exception {
        try (InputStream in = new FileInputStream(path)) {
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                System.out.println(encode(((X509Certificate) c).getSubjectX500Principal().getName()));
            }
        }
    }

    static void map() throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            String[] fields = line.split(" ", -1);
            List<Rule> rules;
            try {
                rules = parse(decode(fields[0]));
            } catch (IllegalArgumentException e) {  // PatternSyntaxException included: the broker would not start
                System.out.println("INVALID " + oneLine(e.getMessage()));
                continue;
            }
            try {
                String name = name(rules, decode(fields[1]));
                System.out.println(name == null ? "NOMATCH" : "NAME " + encode(name));
            } catch (RuntimeException e) {
                System.out.println("ERROR " + oneLine(e.toString()));
            }
        }
    }

    static List<Rule> parse(String value) {
        List<Rule> rules = new ArrayList<>();
        Matcher pieces = SPLITTER.matcher(value.trim());
        while (pieces.find()) {
            String text = pieces.group(1);
            Matcher m = PARSER.matcher(text);
            if (!m.lookingAt() || m.end() != text.length()) {
                throw new IllegalArgumentException("Invalid rule: " + text);
            }
            if (m.group(1) != null) {
                rules.add(new Rule(null, null, ""));
            } else if (m.group(2) != null) {  // else an empty piece, which Kafka skips
                rules.add(new Rule(Pattern.compile(m.group(2)), m.group(4), m.group(6)));
            }
        }
        return rules;
    }

    static String name(List<Rule> rules, String dn) {
        for (Rule rule : rules) {
            if (rule.pattern() == null) {
                return dn;
            }
            Matcher m = rule.pattern().matcher(dn);
            if (m.matches()) {
                String name = dn.replaceAll(rule.pattern().pattern(), literalBackReferences(rule.replacement(), m.groupCount()));
                switch (rule.caseChange()) {
                    case "L": return name.toLowerCase(Locale.ENGLISH);
                    case "U": return name.toUpperCase(Locale.ENGLISH);
                    default: return name;
                }
            }
        }
        return null;
    }

    /** Kafka's escapeLiteralBackReferences: finds $n in the original text, edits a copy at those positions. */
    static String literalBackReferences(String replacement, int groups) {
        if (groups == 0) {
            return replacement;
        }
        String value = replacement;
        Matcher ref = BACK_REFERENCE.matcher(replacement);
        while (ref.find()) {
            if (ref.group(1).startsWith("0")) {
                continue;
            }
            int n = Integer.parseInt(ref.group(1));
            while (n > groups && n >= 10) {
                n /= 10;
            }
            if (n > groups) {
                int dollar = ref.start(1) - 1;
                value = value.substring(0, dollar) + "\\" + value.substring(dollar);
            }
        }
        return value;
    }

    static String decode(String base64) {
        return new String(Base64.getDecoder().decode(base64), StandardCharsets.UTF_8);
    }

    static String encode(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    static String oneLine(String text) {
        return String.valueOf(text).replaceAll("\\s+", " ");
    }
}
