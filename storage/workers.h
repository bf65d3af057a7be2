// A few long-lived threads that run tasks in the order given. The bulk paths (a first import, a
// bootstrap) hand work to them instead of starting a thread per task: a thread keeps its
// allocator's heap, so memory allocated on one task is reused by the next rather than abandoned.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace bosai {

class Workers {
 public:
  explicit Workers(size_t threads);
  ~Workers();  // finishes the tasks already given
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Runs f() on one of the threads; the future holds its result.
  template <class F>
  auto Run(F f) -> std::future<std::invoke_result_t<F&>> {
    auto task = std::make_shared<std::packaged_task<std::invoke_result_t<F&>()>>(std::move(f));
    auto result = task->get_future();
    Push([task] { (*task)(); });
    return result;
  }

 private:
  void Push(std::function<void()> task);
  void Loop();

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace bosai
