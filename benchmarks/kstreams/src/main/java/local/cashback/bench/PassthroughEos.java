package local.cashback.bench;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The exactly-once ceiling of a JVM team: each input record (key, value, headers) copied
 * unparsed to two output topics by Kafka Streams under exactly_once_v2.
 *
 * <pre>
 * java -jar kstreams-passthrough.jar --bootstrap HOST:PORT --input T --outputs A,B \
 *     --group G --state-dir DIR [--commit-interval-ms 100] [--threads 1]
 *     [--producer-retry-backoff-ms 10] [--producer-compression lz4]
 * </pre>
 *
 * The group is the Streams application.id, so the harness reads its committed offsets as
 * for every other run. SIGTERM closes the client (the open transaction is finished or
 * aborted) and exits 0; a stream thread that dies ends the process with exit 1.
 */
public final class PassthroughEos {
  private PassthroughEos() {}

  public static void main(String[] argv) throws InterruptedException {
    Map<String, String> args = parse(argv);
    String[] outputs = required(args, "outputs").split(",");
    if (outputs.length != 2) {
      usage("--outputs takes two comma-separated topics");
    }

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, required(args, "group"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, required(args, "bootstrap"));
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    // 100 ms is Streams' own default under exactly-once, said here so it cannot drift: one
    // transaction per stream thread every 100 ms, the worker's commit_interval_ms too.
    props.put(
        StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, args.getOrDefault("commit-interval-ms", "100"));
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, args.getOrDefault("threads", "1"));
    props.put(StreamsConfig.STATE_DIR_CONFIG, required(args, "state-dir"));
    props.put(StreamsConfig.CLIENT_ID_CONFIG, "kstreams-passthrough");
    props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
    // The client settings the worker changes from the defaults (cashback.runtime.clients),
    // here too. Right after a commit the next transaction's first produce gets
    // CONCURRENT_TRANSACTIONS, and the default 100 ms backoff would stall each one that long.
    props.put(
        StreamsConfig.producerPrefix("retry.backoff.ms"),
        args.getOrDefault("producer-retry-backoff-ms", "10"));
    props.put(
        StreamsConfig.producerPrefix("compression.type"),
        args.getOrDefault("producer-compression", "lz4"));

    StreamsBuilder builder = new StreamsBuilder();
    KStream<byte[], byte[]> input =
        builder.stream(
            required(args, "input"), Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()));
    // Sinks forward the record's headers as they came (the traceparent included).
    for (String topic : outputs) {
      input.to(topic, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));
    }

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch stopped = new CountDownLatch(1);
    int[] exitCode = {0};
    streams.setUncaughtExceptionHandler(
        error -> {
          System.err.println("kstreams-passthrough: stream thread failed: " + error);
          exitCode[0] = 1;
          stopped.countDown();
          return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
    streams.setStateListener(
        (now, before) -> {
          if (now == KafkaStreams.State.ERROR) {
            exitCode[0] = 1;
            stopped.countDown();
          }
        });
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  streams.close(Duration.ofSeconds(20));
                  stopped.countDown();
                },
                "kstreams-passthrough-stop"));
    streams.start();
    stopped.await();
    streams.close(Duration.ofSeconds(20));
    System.exit(exitCode[0]);
  }

  private static Map<String, String> parse(String[] argv) {
    Map<String, String> found = new HashMap<>();
    for (int i = 0; i < argv.length; i += 2) {
      if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
        usage("unexpected argument " + argv[i]);
      }
      found.put(argv[i].substring(2), argv[i + 1]);
    }
    return found;
  }

  private static String required(Map<String, String> args, String name) {
    String value = args.get(name);
    if (value == null || value.isEmpty()) {
      usage("--" + name + " is required");
    }
    return value;
  }

  private static void usage(String problem) {
    System.err.println(
        "kstreams-passthrough: "
            + problem
            + "\nusage: --bootstrap HOST:PORT --input T --outputs A,B --group G --state-dir DIR"
            + " [--commit-interval-ms 100] [--threads 1] [--producer-retry-backoff-ms 10]"
            + " [--producer-compression lz4]");
    System.exit(2);
  }
}
