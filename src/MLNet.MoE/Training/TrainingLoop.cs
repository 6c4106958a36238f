using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The training loop of every task, over the shared <see cref="TrainingEngine"/>: resuming from a checkpoint, one
/// optimizer step at a time inside its own TorchSharp dispose scope (so the live tensor count stays flat), the
/// non-finite-step guard, the report cadence and the run's history, validation and early stopping where the task has
/// them, rotating atomic checkpoints, the model's train and eval modes, and the summary. A task supplies what differs
/// through the abstract members: its batches and loss, its progress report, its checkpoint contents, its validation
/// and its summary. <see cref="LanguageModelTrainingLoop"/> and <see cref="TextClassificationTrainingLoop"/> are the two tasks.
/// </summary>
/// <typeparam name="TProgress">The task's progress report.</typeparam>
/// <typeparam name="TSummary">What a finished run returns.</typeparam>
internal abstract class TrainingLoop<TProgress, TSummary> where TProgress : class
{
    private readonly nn.Module model;
    private readonly string checkpointPrefix;
    private readonly string checkpointOption;

    /// <summary>
    /// A loop training <paramref name="model"/> (already on <paramref name="device"/>) with <paramref name="settings"/>;
    /// its checkpoints are named <paramref name="checkpointPrefix"/>, and <paramref name="checkpointOption"/> names the
    /// option that sets their folder (in the message of a run stopped by non-finite steps).
    /// </summary>
    protected TrainingLoop(nn.Module model, TrainingEngineSettings settings, Device device, string checkpointPrefix, string checkpointOption)
    {
        this.model = model;
        Settings = settings;
        Device = device;
        this.checkpointPrefix = checkpointPrefix;
        this.checkpointOption = checkpointOption;
    }

    /// <summary>The run's settings.</summary>
    protected TrainingEngineSettings Settings { get; }

    /// <summary>The device the model trains on.</summary>
    protected Device Device { get; }

    /// <summary>Every report of the run, a resumed run's earlier ones first.</summary>
    protected List<TProgress> History { get; } = new();

    /// <summary>The newest checkpoint of the run (the one resumed from, until this run writes one), or null.</summary>
    protected string? LastCheckpoint { get; private set; }

    /// <summary>Steps skipped for a non-finite loss or gradient in the whole run, as last read from the device.</summary>
    protected int SkippedSteps { get; set; }

    /// <summary>
    /// Runs the steps left (all of them, or those after <see cref="TrainingEngineSettings.ResumeFrom"/>'s step), giving
    /// <paramref name="report"/> each progress report, and returns the task's summary. The model is in eval mode after.
    /// </summary>
    protected TSummary RunSteps(Action<TProgress> report, CancellationToken cancellation)
    {
        using var engine = CreateEngine();
        int step = 0;
        bool stoppedEarly = false;
        try
        {
            if (Settings.ResumeFrom is { } resume)
            {
                step = Resume(resume, engine);
                LastCheckpoint = resume;
            }
            Started();
            var rotation = new CheckpointRotation(checkpointPrefix, Settings);
            while (step < Settings.Steps)
            {
                cancellation.ThrowIfCancellationRequested();
                step++;
                model.train();
                // One scope for the whole step: the forward and backward passes, the meters read at a report, the checkpoint.
                using var scope = torch.NewDisposeScope();
                var outcome = engine.Step(step, BeginStep(step), Forward);
                double learningRate = outcome.LearningRate;
                EndStep(outcome);
                bool reportDue = step % Settings.LogEverySteps == 0 || step == Settings.Steps;
                SkippedSteps = engine.CheckSkippedSteps(step, reportDue || ChecksSkippedStepsEveryStep, LastCheckpoint, checkpointOption) ?? SkippedSteps;
                var (validated, stop) = Validate(step);
                TProgress? progress = null;
                if (reportDue || validated || stop)
                {
                    progress = Progress(step, learningRate, engine);
                    History.Add(progress);
                }
                if (rotation.Due(step, final: step == Settings.Steps || stop))
                {
                    int written = step;
                    LastCheckpoint = rotation.Write(step, path => WriteCheckpoint(path, written, engine));
                    if (progress != null)
                    {
                        progress = WithCheckpointPath(progress, LastCheckpoint);
                        History[^1] = progress;
                    }
                }
                if (progress != null) report(progress);
                if (stop)
                {
                    stoppedEarly = step < Settings.Steps;
                    break;
                }
            }
            Completed();
        }
        finally
        {
            Release();
            model.eval();
        }
        return Finish(step, stoppedEarly, report);
    }

    /// <summary>The engine: the optimizer over the task's parameter groups and the MoE layers whose routing biases follow the loads.</summary>
    protected abstract TrainingEngine CreateEngine();

    /// <summary>Restores the run of the checkpoint at <paramref name="path"/> (weights, optimizer, data position, history); returns its step.</summary>
    protected abstract int Resume(string path, TrainingEngine engine);

    /// <summary>Called once before the first step (after a resume): a task starts its clocks here.</summary>
    protected virtual void Started()
    {
    }

    /// <summary>Picks step <paramref name="step"/>'s examples; returns the number of micro-batches they are cut into.</summary>
    protected abstract int BeginStep(int step);

    /// <summary>One micro-batch's forward pass and loss, in <paramref name="context"/> (the engine differentiates it).</summary>
    protected abstract MicroBatchLoss Forward(int microBatch, ForwardContext context);

    /// <summary>After the optimizer step, still inside the step's dispose scope: the task adds the step to its counts.</summary>
    protected abstract void EndStep(StepOutcome outcome);

    /// <summary>Whether the non-finite-step count is read after every step (a task that reads the loss every step anyway) rather than at reports.</summary>
    protected virtual bool ChecksSkippedStepsEveryStep => false;

    /// <summary>Validation after step <paramref name="step"/>, where the task's cadence says so: whether it validated, and whether the run stops early.</summary>
    protected virtual (bool Validated, bool Stop) Validate(int step) => (false, false);

    /// <summary>The report of step <paramref name="step"/>; it closes the report window.</summary>
    protected abstract TProgress Progress(int step, double learningRate, TrainingEngine engine);

    /// <summary><paramref name="progress"/> naming the checkpoint written at its step.</summary>
    protected abstract TProgress WithCheckpointPath(TProgress progress, string path);

    /// <summary>Writes the checkpoint of step <paramref name="step"/> to <paramref name="path"/> (atomically).</summary>
    protected abstract void WriteCheckpoint(string path, int step, TrainingEngine engine);

    /// <summary>Called after the last step, before the model leaves training mode: a task restores the weights it keeps.</summary>
    protected virtual void Completed()
    {
    }

    /// <summary>Frees what the task held for the run (always called, also when it fails).</summary>
    protected virtual void Release()
    {
    }

    /// <summary>The run's summary, the model in eval mode; <paramref name="report"/> may receive a last report (the final validation).</summary>
    protected abstract TSummary Finish(int step, bool stoppedEarly, Action<TProgress> report);
}
