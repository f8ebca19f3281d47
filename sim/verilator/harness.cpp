// Verilator harness for the ScanFuse engine: a C++ AXI4 slave memory and an AXI4-Lite master.
//
// Loads a DRAM image, runs the tile program at PROG_ADDR the way a CPU would (write
// PROG_ADDR_LO/HI and PROG_LEN, pulse CTRL.START, poll STATUS until DONE, read ERROR and the
// counters), then writes the final memory and a JSON record of the run. Built and driven by
// scanfuse.sim.verilator_run (which also generates regs.h from scanfuse.hw.regs, so no register
// offset is typed twice); see docs/verification.md.
//
// Usage: Vengine IMAGE.bin OUT_DIR PROG_ADDR PROG_LEN [seed=N] [p_ready=P] [p_valid=P]
//        [latency=L] [max_cycles=N] [poll=N] [fst=PATH] [runs=N] [busy_start=0|1]
//        [fault_channel=read|write fault_burst=N fault_beat=N fault_resp=R fault_id=I
//         fault_lo=A fault_hi=A]
//
// runs=N starts the program N times on the same engine and memory (no reset in between);
// busy_start=1 writes CTRL.START a second time while the first run is busy. The fault_* keys
// are scanfuse.sim.bus_fault.BusFault (BusFault.harness_args): one R beat or B response
// answers with RESP and ID (zero data on an R beat); run.json says whether it fired.
//
// The memory model is the C++ twin of scanfuse.sim.amaranth_axi.AxiMemory: INCR bursts,
// ARREADY/AWREADY/WREADY high with probability p_ready in a cycle, R beats and B responses
// presented with probability p_valid once `latency` cycles have passed, W accepted only after
// its AW. Out-of-range accesses and bad bursts end the run with an error (exit code 3).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "Vengine.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_fst_c.h"
#endif
#include "regs.h"

// Verilator escapes "__" in port names ("bus__rdata" is the member bus___05Frdata).
#define BUS(x) bus___05F##x
#define CTRL(x) ctrl___05F##x

// ---- width-generic port access (ports are CData/SData/IData/QData or VlWide<N>) ----
template <typename T>
static inline uint64_t get_u(const T& p) { return static_cast<uint64_t>(p); }
template <std::size_t N>
static inline uint64_t get_u(const VlWide<N>& p) { return p[0] | (N > 1 ? (uint64_t)p[1] << 32 : 0); }

template <typename T>
static inline void put_bytes(T& p, const uint8_t* b, int n) {
    uint64_t v = 0;
    std::memcpy(&v, b, n);  // little-endian host
    p = static_cast<T>(v);
}
template <std::size_t N>
static inline void put_bytes(VlWide<N>& p, const uint8_t* b, int n) {
    for (std::size_t i = 0; i < N; ++i) {
        uint32_t w = 0;
        int off = 4 * (int)i;
        if (off < n) std::memcpy(&w, b + off, std::min(4, n - off));
        p[i] = w;
    }
}
template <typename T>
static inline void get_bytes(const T& p, uint8_t* b, int n) {
    uint64_t v = static_cast<uint64_t>(p);
    std::memcpy(b, &v, n);
}
template <std::size_t N>
static inline void get_bytes(const VlWide<N>& p, uint8_t* b, int n) {
    for (std::size_t i = 0; i < N; ++i) {
        int off = 4 * (int)i;
        if (off < n) {
            uint32_t w = p[i];
            std::memcpy(b + off, &w, std::min(4, n - off));
        }
    }
}
template <typename T>
static inline void get_strb(const T& p, uint8_t* s, int n) {
    uint64_t v = get_u(p);
    for (int i = 0; i < n; ++i) s[i] = (v >> i) & 1;
}
template <std::size_t N>
static inline void get_strb(const VlWide<N>& p, uint8_t* s, int n) {
    for (int i = 0; i < n; ++i) s[i] = (p[i / 32] >> (i % 32)) & 1;
}

static void fail(const char* msg, uint64_t a = 0) {
    std::fprintf(stderr, "harness: %s (%#llx)\n", msg, (unsigned long long)a);
    std::exit(3);
}

// bad_at: the value of `beats` when the faulty beat is presented (0: no faulty beat)
struct RBurst { uint64_t ready_cycle, addr; uint32_t beats, bad_at; };
struct WBurst { uint64_t addr; uint32_t beats; bool bad; };
struct BPending { uint64_t ready_cycle; bool bad; };

// One faulty response (scanfuse.sim.bus_fault.BusFault).
struct Fault {
    bool on = false, write = false;
    uint64_t burst = 0, beat = 0, lo = 0, hi = ~0ull;
    uint32_t resp = 2, id = 0;
    uint64_t matched = 0, fired = 0;
    // A burst on this channel starting at addr is counted; true if it is the faulty one.
    bool hit(bool is_write, uint64_t addr) {
        if (!on || is_write != write || addr < lo || addr >= hi) return false;
        return ++matched == burst + 1;
    }
};

struct LiteFires { bool aw = false, w = false, b = false, ar = false, r = false; uint32_t rdata = 0, resp = 0; };

class Harness {
  public:
    VerilatedContext ctx;
    Vengine* top;
    std::vector<uint8_t> mem;
    std::mt19937_64 rng;
    std::uniform_real_distribution<double> uni{0.0, 1.0};
    double p_ready = 1.0, p_valid = 1.0;
    uint64_t latency = 2;
    uint64_t cycle = 0;
    uint64_t bus_read_bytes = 0, bus_write_bytes = 0;
    int nb;  // bytes per AXI beat
#if VM_TRACE
    VerilatedFstC* tfp = nullptr;
#endif

    Fault fault;
    std::deque<RBurst> r_bursts;
    std::deque<WBurst> aw_bursts;
    std::deque<BPending> b_pending;
    bool r_cur = false, r_cur_last = false, r_cur_bad = false, b_cur = false, b_cur_bad = false;
    std::vector<uint8_t> r_data;

    Harness(uint64_t seed) : rng(seed) {
        top = new Vengine{&ctx};
        nb = AXI_BYTES;
        r_data.assign(nb, 0);
    }

    bool chance(double p) { return p >= 1.0 || uni(rng) < p; }

    // One clock cycle. Drives the memory's outputs, settles, samples every handshake of both
    // buses, then takes the rising edge and updates the memory model.
    LiteFires tick() {
        Vengine* t = top;
        bool arready = chance(p_ready), awready = chance(p_ready);
        bool wready = !aw_bursts.empty() && chance(p_ready);
        t->BUS(arready) = arready;
        t->BUS(awready) = awready;
        t->BUS(wready) = wready;
        if (!r_cur && !r_bursts.empty() && r_bursts.front().ready_cycle <= cycle && chance(p_valid)) {
            RBurst& rb = r_bursts.front();
            if (rb.addr + nb > mem.size()) fail("AXI read beyond memory", rb.addr);
            r_cur_bad = rb.beats == rb.bad_at;
            if (r_cur_bad) std::fill(r_data.begin(), r_data.end(), 0);
            else std::memcpy(r_data.data(), &mem[rb.addr], nb);
            r_cur = true;
            r_cur_last = rb.beats == 1;
        }
        t->BUS(rvalid) = r_cur;
        if (r_cur) {
            put_bytes(t->BUS(rdata), r_data.data(), nb);
            t->BUS(rlast) = r_cur_last;
            t->BUS(rresp) = r_cur_bad ? fault.resp : 0;
            t->BUS(rid) = r_cur_bad ? fault.id & AXI_ID_MASK : 0;
        }
        if (!b_cur && !b_pending.empty() && b_pending.front().ready_cycle <= cycle && chance(p_valid)) {
            b_cur_bad = b_pending.front().bad;
            b_pending.pop_front();
            b_cur = true;
        }
        t->BUS(bvalid) = b_cur;
        t->BUS(bresp) = b_cur && b_cur_bad ? fault.resp : 0;
        t->BUS(bid) = b_cur && b_cur_bad ? fault.id & AXI_ID_MASK : 0;
        t->eval();

        // --- sample handshakes (before the edge) ---
        bool ar_fire = t->BUS(arvalid) && arready;
        bool r_fire = r_cur && t->BUS(rready);
        bool aw_fire = t->BUS(awvalid) && awready;
        bool w_fire = t->BUS(wvalid) && wready;
        bool b_fire = b_cur && t->BUS(bready);
        uint64_t araddr = get_u(t->BUS(araddr)), awaddr = get_u(t->BUS(awaddr));
        uint32_t arlen = t->BUS(arlen), awlen = t->BUS(awlen);
        if (ar_fire && t->BUS(arburst) != 1) fail("only INCR read bursts", araddr);
        if (aw_fire && t->BUS(awburst) != 1) fail("only INCR write bursts", awaddr);
        static uint8_t wbuf[64], strb[64];
        bool wlast = false;
        if (w_fire) {
            get_bytes(t->BUS(wdata), wbuf, nb);
            get_strb(t->BUS(wstrb), strb, nb);
            wlast = t->BUS(wlast);
        }
        LiteFires lf;
        lf.aw = t->CTRL(awvalid) && t->CTRL(awready);
        lf.w = t->CTRL(wvalid) && t->CTRL(wready);
        lf.b = t->CTRL(bvalid) && t->CTRL(bready);
        lf.ar = t->CTRL(arvalid) && t->CTRL(arready);
        lf.r = t->CTRL(rvalid) && t->CTRL(rready);
        lf.rdata = t->CTRL(rdata);
        lf.resp = lf.r ? t->CTRL(rresp) : t->CTRL(bresp);

        // --- rising edge ---
        t->clk = 1;
        t->eval();
#if VM_TRACE
        if (tfp) tfp->dump(ctx.time());
        ctx.timeInc(5);
#endif
        t->clk = 0;
        t->eval();
#if VM_TRACE
        if (tfp) tfp->dump(ctx.time());
        ctx.timeInc(5);
#endif

        // --- memory model state ---
        if (ar_fire) {
            uint32_t beats = arlen + 1;
            uint32_t bad_at = fault.hit(false, araddr)
                                  ? beats - (uint32_t)std::min<uint64_t>(fault.beat, arlen) : 0;
            r_bursts.push_back({cycle + latency, araddr, beats, bad_at});
        }
        if (r_fire) {
            bus_read_bytes += nb;
            fault.fired += r_cur_bad;
            RBurst& rb = r_bursts.front();
            rb.addr += nb;
            if (--rb.beats == 0) r_bursts.pop_front();
            r_cur = false;
        }
        if (aw_fire) aw_bursts.push_back({awaddr, awlen + 1, fault.hit(true, awaddr)});
        if (w_fire) {
            WBurst& wb = aw_bursts.front();
            for (int i = 0; i < nb; ++i) {
                if (!strb[i]) continue;
                if (wb.addr + i >= mem.size()) fail("AXI write beyond memory", wb.addr + i);
                mem[wb.addr + i] = wbuf[i];
                ++bus_write_bytes;
            }
            wb.addr += nb;
            --wb.beats;
            if (wlast != (wb.beats == 0)) fail("WLAST disagrees with AWLEN", wb.addr);
            if (wb.beats == 0) {
                aw_bursts.pop_front();
                b_pending.push_back({cycle + latency, wb.bad});
            }
        }
        if (b_fire) {
            fault.fired += b_cur_bad;
            b_cur = false;
        }
        ++cycle;
        return lf;
    }

    void reset() {
        top->clk = 0;
        top->rst = 1;
        for (int i = 0; i < 4; ++i) tick();
        top->rst = 0;
        tick();
    }

    uint32_t lite_write(uint32_t addr, uint32_t data) {
        Vengine* t = top;
        t->CTRL(awaddr) = addr; t->CTRL(awvalid) = 1; t->CTRL(awprot) = 0;
        t->CTRL(wdata) = data; t->CTRL(wstrb) = 0xF; t->CTRL(wvalid) = 1;
        t->CTRL(bready) = 1;
        for (int n = 0; n < 1000; ++n) {
            LiteFires f = tick();
            if (f.aw) t->CTRL(awvalid) = 0;
            if (f.w) t->CTRL(wvalid) = 0;
            if (f.b) { t->CTRL(bready) = 0; return f.resp; }
        }
        fail("AXI4-Lite write timed out", addr);
        return 0;
    }

    uint32_t lite_read(uint32_t addr, uint32_t* resp = nullptr) {
        Vengine* t = top;
        t->CTRL(araddr) = addr; t->CTRL(arvalid) = 1; t->CTRL(arprot) = 0;
        t->CTRL(rready) = 1;
        for (int n = 0; n < 1000; ++n) {
            LiteFires f = tick();
            if (f.ar) t->CTRL(arvalid) = 0;
            if (f.r) {
                t->CTRL(rready) = 0;
                if (resp) *resp = f.resp;
                return f.rdata;
            }
        }
        fail("AXI4-Lite read timed out", addr);
        return 0;
    }

    uint64_t read64(uint32_t lo) {
        uint64_t l = lite_read(lo);
        uint64_t h = lite_read(lo + 4);
        return h << 32 | l;
    }
};

static std::string arg_value(int argc, char** argv, const char* key, const char* dflt) {
    std::string k = std::string(key) + "=";
    for (int i = 5; i < argc; ++i)
        if (std::strncmp(argv[i], k.c_str(), k.size()) == 0) return argv[i] + k.size();
    return dflt;
}

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s IMAGE.bin OUT_DIR PROG_ADDR PROG_LEN [key=value ...]\n", argv[0]);
        return 2;
    }
    std::string image = argv[1], out_dir = argv[2];
    uint64_t prog_addr = std::strtoull(argv[3], nullptr, 0);
    uint32_t prog_len = (uint32_t)std::strtoul(argv[4], nullptr, 0);
    uint64_t seed = std::strtoull(arg_value(argc, argv, "seed", "1").c_str(), nullptr, 0);
    uint64_t max_cycles = std::strtoull(arg_value(argc, argv, "max_cycles", "2000000000").c_str(), nullptr, 0);
    uint64_t poll = std::strtoull(arg_value(argc, argv, "poll", "256").c_str(), nullptr, 0);
    int runs = std::atoi(arg_value(argc, argv, "runs", "1").c_str());
    bool busy_start = arg_value(argc, argv, "busy_start", "0") != "0";
    if (runs < 1) { std::fprintf(stderr, "harness: runs must be at least 1\n"); return 2; }
    std::string fst = arg_value(argc, argv, "fst", "");

    Harness h(seed);
    h.p_ready = std::atof(arg_value(argc, argv, "p_ready", "1").c_str());
    h.p_valid = std::atof(arg_value(argc, argv, "p_valid", "1").c_str());
    h.latency = std::strtoull(arg_value(argc, argv, "latency", "2").c_str(), nullptr, 0);
    std::string fault_channel = arg_value(argc, argv, "fault_channel", "");
    if (!fault_channel.empty()) {
        Fault& f = h.fault;
        f.on = true;
        f.write = fault_channel == "write";
        if (!f.write && fault_channel != "read") {
            std::fprintf(stderr, "harness: fault_channel is read or write\n");
            return 2;
        }
        auto num = [&](const char* key, const char* dflt) {
            return std::strtoull(arg_value(argc, argv, key, dflt).c_str(), nullptr, 0);
        };
        f.burst = num("fault_burst", "0");
        f.beat = num("fault_beat", "0");
        f.resp = (uint32_t)num("fault_resp", "2");
        f.id = (uint32_t)num("fault_id", "0");
        f.lo = num("fault_lo", "0");
        f.hi = num("fault_hi", "18446744073709551615");  // saturates: 2**64 reads as 2**64-1
    }
    {
        std::ifstream f(image, std::ios::binary);
        if (!f) { std::fprintf(stderr, "harness: cannot read %s\n", image.c_str()); return 2; }
        h.mem.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
#if VM_TRACE
    if (!fst.empty()) {
        Verilated::traceEverOn(true);
        h.tfp = new VerilatedFstC;
        h.top->trace(h.tfp, 99);
        h.tfp->open(fst.c_str());
    }
#else
    if (!fst.empty()) {
        std::fprintf(stderr, "harness: built without tracing; rebuild with waves\n");
        return 2;
    }
#endif

    auto t0 = std::chrono::steady_clock::now();
    h.reset();
    if (h.lite_read(REG_ID) != ID_MAGIC) fail("ID register does not read ID_MAGIC");
    h.lite_write(REG_PROG_ADDR_LO, (uint32_t)prog_addr);
    h.lite_write(REG_PROG_ADDR_HI, (uint32_t)(prog_addr >> 32));
    h.lite_write(REG_PROG_LEN, prog_len);
    struct Run { uint32_t status = 0, error = 0; uint64_t cycles_total = 0; uint64_t counters[N_COUNTERS]; };
    std::vector<Run> done_runs;
    bool timed_out = false;
    for (int n = 0; n < runs && !timed_out; ++n) {
        Run r;
        uint64_t start = h.cycle;
        h.lite_write(REG_CTRL, CTRL_START);
        if (busy_start && n == 0) {
            if (!(h.lite_read(REG_STATUS) & STATUS_BUSY)) fail("not busy after START");
            h.lite_write(REG_CTRL, CTRL_START);  // ignored while busy
        }
        while (true) {
            r.status = h.lite_read(REG_STATUS);
            if (r.status & STATUS_DONE) break;
            if (h.cycle - start > max_cycles) { timed_out = true; break; }
            for (uint64_t i = 0; i < poll; ++i) h.tick();
        }
        r.cycles_total = h.cycle - start;
        r.error = h.lite_read(REG_ERROR);
        for (int i = 0; i < N_COUNTERS; ++i) r.counters[i] = h.read64(COUNTER_REGS[i]);
        done_runs.push_back(r);
    }
    const Run& last = done_runs.back();
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#if VM_TRACE
    if (h.tfp) h.tfp->close();
#endif
    h.top->final();

    {
        std::ofstream f(out_dir + "/mem_out.bin", std::ios::binary);
        f.write(reinterpret_cast<const char*>(h.mem.data()), (std::streamsize)h.mem.size());
    }
    {
        // Top level: the last run (whose memory mem_out.bin holds); "runs": every run in order.
        auto record = [](std::ofstream& f, const Run& r) {
            f << "\"status\": " << r.status << ", \"error\": " << r.error
              << ", \"cycles_total\": " << r.cycles_total << ", \"counters\": {";
            for (int i = 0; i < N_COUNTERS; ++i)
                f << (i ? ", " : "") << "\"" << COUNTER_NAMES[i] << "\": " << r.counters[i];
            f << "}";
        };
        std::ofstream f(out_dir + "/run.json");
        f << "{";
        record(f, last);
        f << ", \"timed_out\": " << (timed_out ? "true" : "false")
          << ", \"bus_read_bytes\": " << h.bus_read_bytes
          << ", \"bus_write_bytes\": " << h.bus_write_bytes << ", \"wall_seconds\": " << wall
          << ", \"fault_fired\": " << h.fault.fired << ", \"runs\": [";
        for (std::size_t n = 0; n < done_runs.size(); ++n) {
            f << (n ? ", {" : "{");
            record(f, done_runs[n]);
            f << "}";
        }
        f << "]}\n";
    }
    delete h.top;
    return timed_out ? 4 : 0;
}
