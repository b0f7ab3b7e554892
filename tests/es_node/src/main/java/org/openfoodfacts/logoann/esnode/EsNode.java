package org.openfoodfacts.logoann.esnode;

import java.lang.reflect.Constructor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;

import org.elasticsearch.Build;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.ClusterState;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.env.Environment;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.index.IndexVersion;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.MockNode;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.RestChannel;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.transport.netty4.Netty4Plugin;
import org.elasticsearch.xcontent.XContentBuilder;

/**
 * A single-node Elasticsearch cluster in this JVM, for the tests, the local stack and the benchmark.
 *
 * <pre>java -Xmx1g -cp target/classes:$(cat target/classpath.txt) \
 *     org.openfoodfacts.logoann.esnode.EsNode --home DIR [--port 0]</pre>
 *
 * The node is Elasticsearch's own server ({@code org.elasticsearch.node.Node}, through the test
 * framework's {@code MockNode}, which loads plugins from the classpath) with its HTTP module
 * ({@code Netty4Plugin}). It binds 127.0.0.1 only, keeps its indices under {@code DIR/data} (a
 * start on the same home finds them again), prints {@code READY http://127.0.0.1:PORT} once HTTP
 * answers and closes the node cleanly on SIGTERM. {@code GET /} (the cluster's identity, which
 * Elasticsearch serves from its {@code rest-root} module, not published to Maven Central) is
 * served by {@link Root}.
 */
public final class EsNode {
    private static volatile Node node;

    private EsNode() {}

    public static void main(String[] args) throws Exception {
        Path home = null;
        int port = 0;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--home" -> home = Path.of(args[i + 1]).toAbsolutePath();
                case "--port" -> port = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (home == null) {
            throw new IllegalArgumentException("usage: EsNode --home DIR [--port PORT]");
        }
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));
        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "logo-ann")
            .put("node.name", "logo-ann-1")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", port == 0 ? "0" : Integer.toString(port))
            .put("transport.port", "0")
            // a shared or nearly full disk must not make the indices read-only
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("indices.breaker.total.use_real_memory", false)
            .put("action.destructive_requires_name", false)
            .put("logger.level", System.getProperty("esnode.log.level", "WARN"))
            .build();
        LogConfigurator.loadLog4jPlugins();
        LogConfigurator.configureWithoutConfig(settings); // logging first: native access logs
        node = newNode(settings, List.of(Netty4Plugin.class, Root.class));
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "esnode-stop"));
        node.start();
        HttpServerTransport http = node.injector().getInstance(HttpServerTransport.class);
        System.out.println("READY http://" + http.boundAddress().publishAddress());
        System.out.flush();
        closed.await();
    }

    /**
     * The test framework's node with plugins from the classpath. Its public constructors read the
     * transport port range from {@code ESTestCase}, whose static set-up refuses to run as root (as
     * the distribution's bootstrap does); the constructor taking a prepared environment does not.
     */
    private static Node newNode(Settings settings, Collection<Class<? extends Plugin>> plugins) throws Exception {
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "logo-ann-1");
        Constructor<MockNode> constructor = MockNode.class.getDeclaredConstructor(Environment.class, Collection.class, boolean.class);
        constructor.setAccessible(true);
        return constructor.newInstance(environment, plugins, false);
    }

    /** {@code GET /} and {@code HEAD /}: the node's name, cluster and version, as the rest-root module answers. */
    public static final class Root extends Plugin implements ActionPlugin {
        @Override
        public Collection<RestHandler> getRestHandlers(
            Settings settings,
            NamedWriteableRegistry registry,
            RestController controller,
            ClusterSettings clusterSettings,
            IndexScopedSettings indexScopedSettings,
            SettingsFilter settingsFilter,
            IndexNameExpressionResolver resolver,
            Supplier<DiscoveryNodes> nodes,
            Predicate<NodeFeature> features
        ) {
            return List.of(new RestHandler() {
                @Override
                public List<Route> routes() {
                    return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
                }

                @Override
                public void handleRequest(RestRequest request, RestChannel channel, NodeClient client) throws Exception {
                    channel.sendResponse(new RestResponse(RestStatus.OK, identity(channel.newBuilder())));
                }
            });
        }
    }

    private static XContentBuilder identity(XContentBuilder body) throws java.io.IOException {
        ClusterState state = node.injector().getInstance(ClusterService.class).state();
        Build build = Build.current();
        body.startObject()
            .field("name", state.nodes().getLocalNode().getName())
            .field("cluster_name", state.getClusterName().value())
            .field("cluster_uuid", state.metadata().clusterUUID())
            .startObject("version")
            .field("number", build.version())
            .field("build_flavor", build.flavor())
            .field("build_type", build.type().displayName())
            .field("build_hash", build.hash())
            .field("build_date", build.date())
            .field("build_snapshot", build.isSnapshot())
            .field("lucene_version", IndexVersion.current().luceneVersion().toString())
            .field("minimum_wire_compatibility_version", build.minWireCompatVersion())
            .field("minimum_index_compatibility_version", build.minIndexCompatVersion())
            .endObject()
            .field("tagline", "You Know, for Search")
            .endObject();
        return body;
    }
}
