// A Java 17 TLS probe that loads keystores and truststores the way Kafka does, for tlsgen's interop tests.
//
// Loading follows org.apache.kafka.common.security.ssl.DefaultSslEngineFactory:
//   - file stores: KeyStore.getInstance(type).load(in, storePassword) (FileBasedStore.load);
//     the key password is ssl.key.password, or else the store password (FileBasedStore.keyPassword);
//   - type PEM: no store password; Kafka builds an in-memory PKCS12 store itself (PemStore): the
//     one "PRIVATE KEY" block (decrypted with the key password through
//     EncryptedPrivateKeyInfo/SecretKeyFactory/Cipher named by getAlgName()) under alias "kafka"
//     with every "CERTIFICATE" block as its chain; a PEM truststore gets entries "kafka0", "kafka1", ...
//   - KeyManagerFactory and TrustManagerFactory of the default algorithms, SSLContext "TLSv1.3",
//     enabled protocols TLSv1.2 and TLSv1.3 (Kafka's defaults); clients verify host names with
//     endpoint identification "HTTPS" (ssl.endpoint.identification.algorithm=https).
//
// Usage (options are --name value):
//   list    --keystore F --keystore-type T [--keystore-password P] [--key-password K]
//   list    --truststore F --truststore-type T [--truststore-password P]
//           prints "ALIAS <alias> PrivateKeyEntry|trustedCertEntry" per entry (key entries: "key-opens")
//   server  --keystore... --truststore... [--client-auth required|requested|none]
//           prints "LISTENING <port>", then per connection "HANDSHAKE OK peer=<subject> protocol=<p>"
//           or "HANDSHAKE FAILED <error>"; answers each client with one line; runs until killed
//   client  --connect HOST --port N --host NAME --keystore... --truststore... [--protocol TLSv1.2]
//           connects to HOST, verifies the server as NAME (also sent as SNI); prints "OK peer=<subject>
//           protocol=<p>" after the server's reply, or "FAILED <error>" on stderr with exit status 1
//   jvm-default-client --connect HOST --port N --host NAME
//           the same with SSLContext.getDefault() only, configured by -Djavax.net.ssl.* (as a Kafka
//           Connect connector such as MongoDB's sees them through KAFKA_OPTS)
//   properties --file F
//           loads F with java.util.Properties.load(InputStream), as Kafka's Utils.loadProps does, and
//           prints "<key> <UTF-16 code units of its value, in hex, comma-separated>" per key, sorted

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Cipher;
import javax.crypto.EncryptedPrivateKeyInfo;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;

public final class JsseProbe {
    private static final String[] PROTOCOLS = {"TLSv1.2", "TLSv1.3"};
    private static final int TIMEOUT_MS = 15000;

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: JsseProbe list|server|client|jvm-default-client|properties --option value ...");
            System.exit(2);
        }
        Map<String, String> opts = options(args);
        try {
            switch (args[0]) {
                case "list": list(opts); break;
                case "server": server(opts); break;
                case "client": client(opts, kafkaContext(opts)); break;
                case "jvm-default-client": client(opts, SSLContext.getDefault()); break;
                case "properties": properties(opts); break;
                default: throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        } catch (Exception e) {
            System.err.println("FAILED " + describe(e));
            System.exit(1);
        }
    }

    private static Map<String, String> options(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 1; i < args.length; i += 2) {
            if (!args[i].startsWith("--") || i + 1 >= args.length)
                throw new IllegalArgumentException("expected --option value at " + args[i]);
            opts.put(args[i].substring(2), args[i + 1]);
        }
        return opts;
    }

    // --- loading stores as Kafka does ------------------------------------------------------------

    private static char[] chars(String s) {
        return s == null ? null : s.toCharArray();
    }

    private static KeyStore keystore(Map<String, String> o) throws Exception {
        String path = o.get("keystore");
        if (path == null) return null;
        String type = o.getOrDefault("keystore-type", "PKCS12");
        if (type.equals("PEM")) {
            if (o.containsKey("keystore-password"))
                throw new IllegalArgumentException("Kafka refuses a keystore password with type PEM");
            String pem = Files.readString(Path.of(path));
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            char[] keyPassword = chars(o.get("key-password"));
            ks.setKeyEntry("kafka", pemPrivateKey(pem, keyPassword), keyPassword, pemCertificates(pem));
            return ks;
        }
        return fileStore(type, path, o.get("keystore-password"));
    }

    private static char[] keyPassword(Map<String, String> o) {
        // FileBasedStore.keyPassword(): ssl.key.password, else the store password; PEM: the key password.
        return chars(o.getOrDefault("key-password", o.get("keystore-password")));
    }

    private static KeyStore truststore(Map<String, String> o) throws Exception {
        String path = o.get("truststore");
        if (path == null) return null;
        String type = o.getOrDefault("truststore-type", "PKCS12");
        if (type.equals("PEM")) {
            KeyStore ts = KeyStore.getInstance("PKCS12");
            ts.load(null, null);
            Certificate[] certs = pemCertificates(Files.readString(Path.of(path)));
            for (int i = 0; i < certs.length; i++) ts.setCertificateEntry("kafka" + i, certs[i]);
            return ts;
        }
        return fileStore(type, path, o.get("truststore-password"));
    }

    private static KeyStore fileStore(String type, String path, String password) throws Exception {
        try (InputStream in = Files.newInputStream(Path.of(path))) {
            KeyStore ks = KeyStore.getInstance(type);
            ks.load(in, chars(password));
            return ks;
        }
    }

    // PEM blocks as Kafka's PemParser finds them: the label may carry a prefix ("ENCRYPTED PRIVATE
    // KEY" matches "PRIVATE KEY"), header lines are skipped, the base64 body is decoded.
    private static List<byte[]> pemBlocks(String pem, String label) {
        String name = label.replace(" ", "\\s+");
        String edge = "-+%s\\s*.*" + name + "[^-]*-+\\s+";
        Pattern pattern = Pattern.compile(String.format(edge, "BEGIN")
                + "(?:\\s*[^\\r\\n]*:[^\\r\\n]*[\\r\\n]+)*([a-zA-Z0-9/+=\\s]*)" + String.format(edge, "END"));
        Matcher m = pattern.matcher(pem + "\n");
        List<byte[]> blocks = new ArrayList<>();
        while (m.find()) blocks.add(Base64.getDecoder().decode(m.group(1).replaceAll("\\s", "")));
        if (blocks.isEmpty()) throw new IllegalArgumentException("no " + label + " in PEM file");
        return blocks;
    }

    private static Certificate[] pemCertificates(String pem) throws Exception {
        List<Certificate> certs = new ArrayList<>();
        for (byte[] der : pemBlocks(pem, "CERTIFICATE"))
            certs.add(CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(der)));
        return certs.toArray(new Certificate[0]);
    }

    private static PrivateKey pemPrivateKey(String pem, char[] keyPassword) throws Exception {
        List<byte[]> blocks = pemBlocks(pem, "PRIVATE KEY");
        if (blocks.size() != 1) throw new IllegalArgumentException("expected one private key, found " + blocks.size());
        PKCS8EncodedKeySpec spec;
        if (keyPassword == null) {
            spec = new PKCS8EncodedKeySpec(blocks.get(0));
        } else {
            EncryptedPrivateKeyInfo info = new EncryptedPrivateKeyInfo(blocks.get(0));
            String algorithm = info.getAlgName();
            SecretKeyFactory factory = SecretKeyFactory.getInstance(algorithm);
            Cipher cipher = Cipher.getInstance(algorithm);
            cipher.init(Cipher.DECRYPT_MODE, factory.generateSecret(new PBEKeySpec(keyPassword)), info.getAlgParameters());
            spec = info.getKeySpec(cipher);
        }
        InvalidKeySpecException first = null;
        for (String type : new String[] {"RSA", "DSA", "EC"}) {
            try {
                return KeyFactory.getInstance(type).generatePrivate(spec);
            } catch (InvalidKeySpecException e) {
                if (first == null) first = e;
            }
        }
        throw first;
    }

    private static SSLContext kafkaContext(Map<String, String> o) throws Exception {
        KeyStore ks = keystore(o);
        KeyManagerFactory kmf = null;
        if (ks != null) {  // no keystore: no key managers, as in Kafka's createSSLContext
            kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, keyPassword(o));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(truststore(o));
        SSLContext context = SSLContext.getInstance("TLSv1.3");
        context.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return context;
    }

    // --- modes -----------------------------------------------------------------------------------

    private static void list(Map<String, String> o) throws Exception {
        boolean isKeystore = o.containsKey("keystore");
        KeyStore store = isKeystore ? keystore(o) : truststore(o);
        if (store == null) throw new IllegalArgumentException("list needs --keystore or --truststore");
        for (String alias : Collections.list(store.aliases())) {
            if (store.isKeyEntry(alias)) {
                // KeyManagerFactory.init recovers every key with the key password; so does this.
                Key key = store.getKey(alias, keyPassword(o));
                System.out.println("ALIAS " + alias + " PrivateKeyEntry " + (key != null ? "key-opens" : "no-key")
                        + " chain=" + store.getCertificateChain(alias).length);
            } else if (store.isCertificateEntry(alias)) {
                System.out.println("ALIAS " + alias + " trustedCertEntry");
            } else {
                System.out.println("ALIAS " + alias + " other");
            }
        }
        System.out.flush();
    }

    private static void properties(Map<String, String> o) throws Exception {
        java.util.Properties props = new java.util.Properties();
        try (InputStream in = Files.newInputStream(Path.of(o.get("file")))) {
            props.load(in);
        }
        for (String key : new java.util.TreeSet<>(props.stringPropertyNames())) {
            StringBuilder units = new StringBuilder();
            for (char c : props.getProperty(key).toCharArray())
                units.append(units.length() == 0 ? "" : ",").append(Integer.toHexString(c));
            System.out.println(key + " " + units);
        }
        System.out.flush();
    }

    private static void server(Map<String, String> o) throws Exception {
        SSLContext context = kafkaContext(o);
        SSLServerSocket listener = (SSLServerSocket) context.getServerSocketFactory()
                .createServerSocket(Integer.parseInt(o.getOrDefault("port", "0")), 50, InetAddress.getByName("127.0.0.1"));
        listener.setEnabledProtocols(PROTOCOLS);
        switch (o.getOrDefault("client-auth", "required")) {
            case "required": listener.setNeedClientAuth(true); break;
            case "requested": listener.setWantClientAuth(true); break;
            default: break;
        }
        say("LISTENING " + listener.getLocalPort());
        while (true) {
            Socket accepted = listener.accept();
            Thread handler = new Thread(() -> serve((SSLSocket) accepted));
            handler.setDaemon(true);
            handler.start();
        }
    }

    private static void serve(SSLSocket socket) {
        try (socket) {
            socket.setSoTimeout(TIMEOUT_MS);
            socket.startHandshake();
            String peer;
            try {
                peer = socket.getSession().getPeerPrincipal().getName();
            } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
                peer = "(none)";
            }
            say("HANDSHAKE OK peer=" + peer + " protocol=" + socket.getSession().getProtocol());
            OutputStream out = socket.getOutputStream();
            out.write(("hello " + peer + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            socket.getInputStream().read();  // until the client closes
        } catch (Exception e) {
            say("HANDSHAKE FAILED " + describe(e));
        }
    }

    private static void client(Map<String, String> o, SSLContext context) throws Exception {
        String host = o.get("host");
        Socket plain = new Socket();
        plain.connect(new InetSocketAddress(o.getOrDefault("connect", host), Integer.parseInt(o.get("port"))), TIMEOUT_MS);
        plain.setSoTimeout(TIMEOUT_MS);
        SSLSocketFactory factory = context.getSocketFactory();
        // Layered on a socket already connected: `host` is only the name to verify (and SNI), as in
        // Kafka's createSslEngine(peerHost, peerPort) with endpoint identification on.
        try (SSLSocket socket = (SSLSocket) factory.createSocket(plain, host, plain.getPort(), true)) {
            SSLParameters params = socket.getSSLParameters();
            params.setEndpointIdentificationAlgorithm("HTTPS");
            params.setProtocols(o.containsKey("protocol") ? new String[] {o.get("protocol")} : PROTOCOLS);
            socket.setSSLParameters(params);
            socket.startHandshake();
            String peer = socket.getSession().getPeerPrincipal().getName();
            String protocol = socket.getSession().getProtocol();
            // With TLS 1.3 a server rejects a client certificate only after the client's handshake
            // is done: ask (an HTTP request also suits `openssl s_server -www`) and wait for the
            // server's first line before reporting success.
            OutputStream out = socket.getOutputStream();
            out.write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String reply = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8)).readLine();
            if (reply == null) throw new java.io.EOFException("the server closed the connection without a reply");
            System.out.println("OK peer=" + peer + " protocol=" + protocol + " reply=" + reply);
        }
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static String describe(Throwable e) {
        StringBuilder text = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (text.length() > 0) text.append(" <- ");
            text.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
        }
        return text.toString().replace('\n', ' ');
    }
}
