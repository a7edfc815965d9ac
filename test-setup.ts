// Every test file runs on tfjs's plain CPU backend: deterministic, complete, no native code.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

tf.enableProdMode();
await tf.setBackend('cpu');
