// A tiny persistent thread pool: parallelFor(n, fn) runs fn(i) for i in [0, n) on the calling
// thread and the workers, and returns when all are done. Between calls a worker first spins for a
// short while (spinMicros, default 200 us; FPT_KERNELS_SPIN_US), then sleeps on a condition
// variable, so an idle pool costs nothing. The spin matters in a virtual machine: a sleeping vCPU
// took long to wake, and a training step calls the pool thousands of times with single-threaded
// work in between (a 1024x768x3072 product took 31 ms after 200 ms idle, 18 ms back to back).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    if (const char* env = std::getenv("FPT_KERNELS_SPIN_US")) spinMicros_ = std::atol(env);
    resize(threads);
  }
  ~ThreadPool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    stop();
    if (threads < 1) threads = 1;
    quit_.store(false);
    for (int t = 1; t < threads; t++) workers_.emplace_back([this] { loop(); });
  }

  void parallelFor(long n, const std::function<void(long, int)>& fn) {
    if (n <= 0) return;
    if (workers_.empty() || n == 1) {
      for (long i = 0; i < n; i++) fn(i, 0);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &fn;
      jobSize_ = n;
      next_.store(0);
      pending_.store(static_cast<int>(workers_.size()));
      generation_.fetch_add(1);
    }
    wake_.notify_all();
    run(fn, n, 0);
    spinWhile([this] { return pending_.load() != 0; });
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_.load() == 0; });
    job_ = nullptr;
  }

 private:
  void run(const std::function<void(long, int)>& fn, long n, int worker) {
    for (long i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) fn(i, worker);
  }

  // Spins while `busy()` holds, at most spinMicros_.
  template <typename F>
  void spinWhile(F busy) const {
    if (spinMicros_ <= 0 || !busy()) return;
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(spinMicros_);
    for (int i = 0; busy(); i++)
      if ((i & 63) == 0 && std::chrono::steady_clock::now() > until) return;
  }

  void loop() {
    int id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      id = ++ids_;
    }
    unsigned long seen = 0;
    for (;;) {
      const std::function<void(long, int)>* job;
      long n;
      spinWhile([&] { return generation_.load() == seen && !quit_.load(); });
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return quit_.load() || generation_.load() != seen; });
        if (quit_.load()) return;
        seen = generation_.load();
        job = job_;
        n = jobSize_;
      }
      run(*job, n, id);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (pending_.fetch_sub(1) == 1) done_.notify_one();
      }
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_.store(true);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    ids_ = 0;
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(long, int)>* job_ = nullptr;
  long jobSize_ = 0;
  std::atomic<long> next_{0};
  std::atomic<int> pending_{0};
  int ids_ = 0;
  std::atomic<unsigned long> generation_{0};
  std::atomic<bool> quit_{false};
  long spinMicros_ = 200;
};
