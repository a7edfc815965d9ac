// A tiny persistent thread pool: parallelFor(n, fn) runs fn(i) for i in [0, n) on the calling
// thread and the workers, and returns when all are done. Workers sleep on a condition variable
// between calls, so an idle pool costs nothing.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { resize(threads); }
  ~ThreadPool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    stop();
    if (threads < 1) threads = 1;
    quit_ = false;
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
      pending_ = static_cast<int>(workers_.size());
      generation_++;
    }
    wake_.notify_all();
    run(fn, n, 0);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
  }

 private:
  void run(const std::function<void(long, int)>& fn, long n, int worker) {
    for (long i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) fn(i, worker);
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
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
        job = job_;
        n = jobSize_;
      }
      run(*job, n, id);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
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
  int pending_ = 0;
  int ids_ = 0;
  unsigned long generation_ = 0;
  bool quit_ = false;
};
