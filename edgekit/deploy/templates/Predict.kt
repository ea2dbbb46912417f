// An EXAMPLE of calling the deployed model with LiteRT's Interpreter API on Android.
// Written by 'edgekit deploy' for {artifact}; it is documentation, not built or tested here.
//
// build.gradle:  implementation("com.google.ai.edge.litert:litert:<version>")
// (edgekit proved it with {proven} on the host; use a current LiteRT release.)
// Put {model} (and labels.txt{vocab_note}) under app/src/main/assets/.

package com.example.edgekit

import android.content.Context
import org.tensorflow.lite.Interpreter  // LiteRT keeps TensorFlow Lite's Interpreter API and package
import java.io.FileInputStream
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

class Predict(context: Context) {
    private val interpreter: Interpreter
    val labels: List<String> = context.assets.open("labels.txt").bufferedReader().readLines()

    init {
        val fd = context.assets.openFd("{model}")
        val model: MappedByteBuffer = FileInputStream(fd.fileDescriptor).channel
            .map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
        interpreter = Interpreter(model, Interpreter.Options().setNumThreads({threads}))
    }

{body}
    private fun softmax(logits: FloatArray): FloatArray {
        val max = logits.max()
        val e = logits.map { kotlin.math.exp(it - max) }
        val sum = e.sum()
        return e.map { it / sum }.toFloatArray()
    }

    fun close() = interpreter.close()
}
