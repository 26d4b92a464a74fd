print("kbert")
