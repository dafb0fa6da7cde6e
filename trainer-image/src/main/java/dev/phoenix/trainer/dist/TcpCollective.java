package dev.phoenix.trainer.dist;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A star-shaped collective over TCP: rank 0 listens on {@code MASTER_ADDR:MASTER_PORT} (bound to
 * the address MASTER_ADDR resolves to, so several gangs on one machine with distinct loopback
 * addresses do not collide; the wildcard address if that address is not local), the other ranks
 * connect to it. Rank 0 sums gradients in rank order and sends the sum back, so all ranks apply the
 * same bits. A hello handshake rejects ranks of another job, attempt or world size.
 */
public final class TcpCollective implements Collective {
    private static final Logger log = LoggerFactory.getLogger(TcpCollective.class);
    private static final int MAGIC = 0x50484e58; // "PHNX"

    private final int rank;
    private final int worldSize;
    private final ServerSocket server;
    private final Socket[] peers; // rank 0: index = peer rank; others: index 0 = rank 0
    private final DataInputStream[] in;
    private final DataOutputStream[] out;
    private byte[] scratch = new byte[0];

    private TcpCollective(int rank, int worldSize, ServerSocket server, Socket[] peers)
            throws IOException {
        this.rank = rank;
        this.worldSize = worldSize;
        this.server = server;
        this.peers = peers;
        this.in = new DataInputStream[peers.length];
        this.out = new DataOutputStream[peers.length];
        for (int i = 0; i < peers.length; i++) {
            if (peers[i] != null) {
                in[i] =
                        new DataInputStream(
                                new BufferedInputStream(peers[i].getInputStream(), 1 << 20));
                out[i] =
                        new DataOutputStream(
                                new BufferedOutputStream(peers[i].getOutputStream(), 1 << 20));
            }
        }
    }

    /**
     * A peer's connection broke in the middle of a collective: closed, reset, or silent past the
     * I/O timeout. The peer (or its node) is gone; nothing is wrong with this rank's program. The
     * termination message says {@code PeerLost}, so the operator can look for the peer's own fate
     * before it counts a failure.
     */
    public static final class PeerLost extends IOException {
        PeerLost(String message, IOException cause) {
            super(message, cause);
        }
    }

    /**
     * The rendezvous was abandoned because the process was asked to stop (SIGTERM while the gang
     * forms).
     */
    public static final class Cancelled extends IOException {
        Cancelled(String message) {
            super(message);
        }
    }

    public static TcpCollective connect(
            int rank,
            int worldSize,
            String masterAddr,
            int masterPort,
            String jobName,
            int attempt,
            Duration rendezvousTimeout,
            Duration ioTimeout)
            throws IOException {
        return connect(
                rank,
                worldSize,
                masterAddr,
                masterPort,
                jobName,
                attempt,
                rendezvousTimeout,
                ioTimeout,
                () -> false);
    }

    /**
     * @param cancelled polled while waiting for peers (at least every 200 ms): true abandons the
     *     rendezvous
     */
    public static TcpCollective connect(
            int rank,
            int worldSize,
            String masterAddr,
            int masterPort,
            String jobName,
            int attempt,
            Duration rendezvousTimeout,
            Duration ioTimeout,
            java.util.function.BooleanSupplier cancelled)
            throws IOException {
        long deadline = System.nanoTime() + rendezvousTimeout.toNanos();
        if (rank == 0) {
            ServerSocket server = new ServerSocket();
            server.setReuseAddress(true);
            InetAddress addr = InetAddress.getByName(masterAddr);
            try {
                server.bind(new InetSocketAddress(addr, masterPort), worldSize);
            } catch (BindException e) {
                if (addr.isLoopbackAddress()
                        || e.getMessage() == null
                        || !e.getMessage().contains("assign")) {
                    throw e;
                }
                log.warn(
                        "{} ({}) is not an address of this host; listening on all addresses",
                        masterAddr,
                        addr);
                server.bind(new InetSocketAddress(masterPort), worldSize);
            }
            log.info(
                    "rank 0 listening on {} for {} peer(s)",
                    server.getLocalSocketAddress(),
                    worldSize - 1);
            Socket[] peers = new Socket[worldSize];
            int joined = 0;
            while (joined < worldSize - 1) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    server.close();
                    throw new IOException(
                            "rendezvous timed out: "
                                    + joined
                                    + " of "
                                    + (worldSize - 1)
                                    + " peers joined");
                }
                if (cancelled.getAsBoolean()) {
                    server.close();
                    throw new Cancelled(
                            "rendezvous abandoned: stop requested with "
                                    + joined
                                    + " of "
                                    + (worldSize - 1)
                                    + " peers joined");
                }
                server.setSoTimeout((int) Math.min(200, left));
                Socket s;
                try {
                    s = server.accept();
                } catch (SocketTimeoutException e) {
                    continue;
                }
                s.setTcpNoDelay(true);
                s.setSoTimeout(10_000);
                try {
                    DataInputStream hin = new DataInputStream(s.getInputStream());
                    DataOutputStream hout = new DataOutputStream(s.getOutputStream());
                    int magic = hin.readInt();
                    int peerRank = hin.readInt();
                    int peerWorld = hin.readInt();
                    int peerAttempt = hin.readInt();
                    String peerJob = hin.readUTF();
                    String reject = null;
                    if (magic != MAGIC) {
                        reject = "bad magic";
                    } else if (peerWorld != worldSize
                            || !peerJob.equals(jobName)
                            || peerAttempt != attempt) {
                        reject =
                                "peer is "
                                        + peerJob
                                        + " attempt "
                                        + peerAttempt
                                        + " world "
                                        + peerWorld
                                        + ", expected "
                                        + jobName
                                        + " attempt "
                                        + attempt
                                        + " world "
                                        + worldSize;
                    } else if (peerRank <= 0 || peerRank >= worldSize || peers[peerRank] != null) {
                        reject = "bad or duplicate rank " + peerRank;
                    }
                    if (reject != null) {
                        hout.writeBoolean(false);
                        hout.writeUTF(reject);
                        hout.flush();
                        log.warn("rejected a peer from {}: {}", s.getRemoteSocketAddress(), reject);
                        s.close();
                        continue;
                    }
                    hout.writeBoolean(true);
                    hout.writeUTF("ok");
                    hout.flush();
                    s.setSoTimeout((int) ioTimeout.toMillis());
                    peers[peerRank] = s;
                    joined++;
                    log.info("rank {} joined from {}", peerRank, s.getRemoteSocketAddress());
                } catch (IOException e) {
                    log.warn(
                            "handshake with {} failed: {}",
                            s.getRemoteSocketAddress(),
                            e.toString());
                    s.close();
                }
            }
            return new TcpCollective(0, worldSize, server, peers);
        }
        IOException last = null;
        while (System.nanoTime() < deadline) {
            if (cancelled.getAsBoolean()) {
                throw new Cancelled("rendezvous abandoned: stop requested before rank 0 answered");
            }
            Socket s = new Socket();
            try {
                s.connect(new InetSocketAddress(masterAddr, masterPort), 5_000);
                s.setTcpNoDelay(true);
                s.setSoTimeout(30_000);
                DataOutputStream hout = new DataOutputStream(s.getOutputStream());
                hout.writeInt(MAGIC);
                hout.writeInt(rank);
                hout.writeInt(worldSize);
                hout.writeInt(attempt);
                hout.writeUTF(jobName);
                hout.flush();
                DataInputStream hin = new DataInputStream(s.getInputStream());
                boolean ok = hin.readBoolean();
                String why = hin.readUTF();
                if (!ok) {
                    s.close();
                    throw new IOException("rank 0 rejected this rank: " + why);
                }
                s.setSoTimeout((int) ioTimeout.toMillis());
                log.info("rank {} connected to rank 0 at {}:{}", rank, masterAddr, masterPort);
                return new TcpCollective(rank, worldSize, null, new Socket[] {s});
            } catch (IOException e) {
                s.close();
                if (e.getMessage() != null && e.getMessage().startsWith("rank 0 rejected")) {
                    throw e;
                }
                last = e;
                try {
                    Thread.sleep(200);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", ie);
                }
            }
        }
        throw new IOException("could not reach rank 0 at " + masterAddr + ":" + masterPort, last);
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int worldSize() {
        return worldSize;
    }

    @Override
    public Reduced allReduce(float[] gradient, double loss, boolean stop) throws IOException {
        try {
            return exchange(gradient, loss, stop);
        } catch (java.io.EOFException
                | java.net.SocketException
                | java.net.SocketTimeoutException e) {
            throw peerLost("all-reduce", e);
        }
    }

    private PeerLost peerLost(String during, IOException e) {
        return new PeerLost(
                "lost the connection to "
                        + (rank == 0 ? "a peer" : "rank 0")
                        + " during the "
                        + during
                        + ": "
                        + e,
                e);
    }

    private Reduced exchange(float[] gradient, double loss, boolean stop) throws IOException {
        if (rank != 0) {
            DataOutputStream o = out[0];
            o.writeBoolean(stop);
            o.writeDouble(loss);
            writeFloats(o, gradient);
            o.flush();
            DataInputStream i = in[0];
            boolean agreedStop = i.readBoolean();
            double total = i.readDouble();
            float[] sum = readFloats(i, gradient.length);
            return new Reduced(sum, total, agreedStop);
        }
        float[] sum = gradient.clone();
        double total = loss;
        boolean anyStop = stop;
        for (int r = 1; r < worldSize; r++) {
            DataInputStream i = in[r];
            anyStop |= i.readBoolean();
            total += i.readDouble();
            float[] g = readFloats(i, gradient.length);
            for (int k = 0; k < sum.length; k++) {
                sum[k] += g[k];
            }
        }
        for (int r = 1; r < worldSize; r++) {
            DataOutputStream o = out[r];
            o.writeBoolean(anyStop);
            o.writeDouble(total);
            writeFloats(o, sum);
            o.flush();
        }
        return new Reduced(sum, total, anyStop);
    }

    @Override
    public byte[] broadcast(byte[] payload) throws IOException {
        try {
            return broadcastUnchecked(payload);
        } catch (java.io.EOFException
                | java.net.SocketException
                | java.net.SocketTimeoutException e) {
            throw peerLost("broadcast", e);
        }
    }

    private byte[] broadcastUnchecked(byte[] payload) throws IOException {
        if (rank == 0) {
            for (int r = 1; r < worldSize; r++) {
                out[r].writeInt(payload.length);
                out[r].write(payload);
                out[r].flush();
            }
            return payload;
        }
        int n = in[0].readInt();
        byte[] b = new byte[n];
        in[0].readFully(b);
        return b;
    }

    private void writeFloats(DataOutputStream o, float[] v) throws IOException {
        int n = v.length * 4;
        if (scratch.length < n) {
            scratch = new byte[n];
        }
        ByteBuffer.wrap(scratch, 0, n).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(v);
        o.writeInt(v.length);
        o.write(scratch, 0, n);
    }

    private float[] readFloats(DataInputStream i, int expected) throws IOException {
        int len = i.readInt();
        if (len != expected) {
            throw new IOException("peer sent " + len + " values, expected " + expected);
        }
        int n = len * 4;
        if (scratch.length < n) {
            scratch = new byte[n];
        }
        i.readFully(scratch, 0, n);
        float[] v = new float[len];
        ByteBuffer.wrap(scratch, 0, n).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
        return v;
    }

    @Override
    public void close() {
        for (Socket s : peers) {
            if (s != null) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // closing
                }
            }
        }
        if (server != null) {
            try {
                server.close();
            } catch (IOException ignored) {
                // closing
            }
        }
    }
}
