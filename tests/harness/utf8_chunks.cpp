// Feeds byte strings to the generated JNI bridge's decodablePrefix one byte at a time (the worst
// case: every token a single byte) and prints the chunks the bridge would hand to Kotlin.
// Input: one hex string per line. Output: the chunks of each, hex, space separated ('-' if none).
#include "llama_bridge.cpp"

#include <cstdio>
#include <iostream>

int main() {
    std::string line;
    while (std::getline(std::cin, line)) {
        std::string pending;
        std::string out;
        auto emit = [&out](const std::string& chunk) {
            for (unsigned char c : chunk) {
                char hex[3];
                std::snprintf(hex, sizeof(hex), "%02x", c);
                out += hex;
            }
            out += ' ';
        };
        for (size_t i = 0; i + 1 < line.size(); i += 2) {
            pending.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
            const size_t ready = decodablePrefix(pending);
            if (ready > 0) {
                emit(pending.substr(0, ready));
                pending.erase(0, ready);
            }
        }
        if (!pending.empty()) {
            emit(pending);
        }
        std::cout << (out.empty() ? "-" : out) << "\n";
    }
    return 0;
}
