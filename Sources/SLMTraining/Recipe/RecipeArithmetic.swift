extension Recipe {
    /// batch_size × gradient_accumulation × sequence_length: the tokens (padding included) one optimizer step sees.
    public var tokensPerOptimizerStep: Int {
        train.batchSize * train.gradientAccumulation * data.sequenceLength
    }
}
